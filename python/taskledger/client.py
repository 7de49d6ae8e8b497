"""The client of taskledger's HTTP JSON API (``taskledger serve --http``)."""

import contextlib
import json
import os
import re
import socket
import threading
import time
import urllib.parse
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence

from .durations import Duration, Time, duration_seconds, duration_text, time_text
from .errors import ClaimTimeout, LeaseLost, NotFound, ProtocolError, TaskLedgerError
from .transport import Transport, parse_address

__all__ = ["Client", "Lease", "Events", "default_worker_name"]

JSON = Any
Reply = Dict[str, Any]


def default_worker_name() -> str:
    """``HOST:PID``, the worker name used when none is given."""
    return "%s:%d" % (socket.gethostname(), os.getpid())


def _host_name() -> Optional[str]:
    """This machine's name, if the server would take it (printable ASCII, no spaces)."""
    name = socket.gethostname()
    return name if re.fullmatch(r"[\x21-\x7e]{1,128}", name) else None


def _quote(task_id: str) -> str:
    if not isinstance(task_id, str) or not task_id:
        raise TypeError("a task id is a non-empty string, not %r" % (task_id,))
    return urllib.parse.quote(task_id, safe="")


def _query(**params: Any) -> str:
    pairs = []
    for key, value in params.items():
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            pairs.append((key, str(v)))
    return "?" + urllib.parse.urlencode(pairs) if pairs else ""


def _text(value: Any) -> str:
    """A result / error / note as text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _object(reply: Any, what: str) -> Dict[str, Any]:
    """The reply, which must be a JSON object."""
    if not isinstance(reply, dict):
        raise ProtocolError("the server's reply to %s is not a JSON object" % what, status=200)
    return reply


def _put(body: Dict[str, Any], **fields: Any) -> Dict[str, Any]:
    for key, value in fields.items():
        if value is not None:
            body[key] = value
    return body


class Events(list):  # type: ignore[type-arg]
    """A page of events (each a ``log --json`` object); ``next_seq`` is the seq to ask for
    next (pass it as ``since=``)."""

    def __init__(self, events: Iterable[Dict[str, Any]], next_seq: Optional[int]) -> None:
        super().__init__(events)
        self.next_seq: Optional[int] = next_seq


class Client:
    """A connection (a keep-alive pool of them) to a taskledger server's HTTP API.

    Safe to share between threads.

    Example::

        client = Client("unix:/run/taskledger/http.sock")
        task = client.create("resize images", payload={"dir": "/srv/in"})
        lease = client.claim(worker="w1")
        if lease is not None:
            lease.complete("done")
    """

    def __init__(self, address: Optional[str] = None, timeout: Optional[float] = 30.0,
                 worker: Optional[str] = None, busy_retry: float = 5.0, identify: bool = True) -> None:
        """
        Args:
            address: ``unix:/path/to/http.sock``, ``tcp:127.0.0.1:PORT`` or
                ``http://127.0.0.1:PORT``; by default the environment variable
                ``TASKLEDGER_HTTP``.
            timeout: socket timeout of each request, in seconds.
            worker: the worker name claims use when given none (default ``HOST:PID``).
            busy_retry: for how long 503 ``busy`` replies are retried before
                :class:`~taskledger.Busy` is raised.
            identify: stamp every command but create with this process's ``pid`` and
                ``host``, recorded on its events (so that a refused heartbeat names the
                process and machine it came from).

        Raises:
            ValueError: no address, or a malformed one.
        """
        if address is None:
            address = os.environ.get("TASKLEDGER_HTTP", "")
        self.address = parse_address(address)
        self.worker: str = worker or default_worker_name()
        self.identify: bool = identify
        self._host: Optional[str] = _host_name()
        self._transport = Transport(self.address, timeout=timeout, busy_retry=busy_retry)

    def __repr__(self) -> str:
        return "Client(%r)" % self.address.text

    def close(self) -> None:
        """Closes the kept-alive connections (the client stays usable: it reconnects)."""
        self._transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------

    def get(self, path: str) -> Dict[str, Any]:
        """GETs ``path`` (with its query) and returns the JSON object of the reply."""
        return _object(self._transport.json("GET", path), "GET " + path)

    def post(self, path: str, body: Dict[str, Any], holder: bool = False) -> Dict[str, Any]:
        """POSTs the JSON object ``body`` to ``path`` and returns the JSON object of the reply.

        ``holder``: a lease holder's command, whose refusal raises
        :class:`~taskledger.LeaseLost`."""
        return _object(self._transport.json("POST", path, body, holder=holder), "POST " + path)

    def stamp(self, body: Dict[str, Any]) -> Dict[str, Any]:
        """Adds this process's ``pid`` and ``host`` to a command's body (unless it has them,
        or ``identify`` is off); returns the body."""
        if self.identify:
            body.setdefault("pid", os.getpid())
            if self._host is not None:
                body.setdefault("host", self._host)
        return body

    # -- reading ------------------------------------------------------------------------

    def healthz(self) -> bool:
        """True when GET /healthz answers ``ok``."""
        _, _, raw = self._transport.request("GET", "/healthz")
        return raw.strip() == b"ok"

    def metrics(self) -> str:
        """GET /metrics: the Prometheus text."""
        _, _, raw = self._transport.request("GET", "/metrics")
        return raw.decode("utf-8")

    def now(self) -> Dict[str, Any]:
        """The server's clock and last seq: ``{"now_ns", "now", "last_seq"}``."""
        return self.get("/v1/now")

    def ls(self, status: Optional[str] = None, queue: Optional[str] = None, at: Optional[Time] = None,
           at_seq: Optional[int] = None) -> List[Dict[str, Any]]:
        """The tasks (each one ``ls --json`` object), optionally only those with this
        ``status`` (``ready``, ``running``, ``done``, ...) or in this ``queue``, as of now or
        of a time (``at``) or seq (``at_seq``)."""
        reply = self.get("/v1/tasks" + _query(status=status, queue=queue, at=time_text(at), at_seq=at_seq))
        return list(reply.get("tasks", []))

    def show(self, task_id: str, at: Optional[Time] = None, at_seq: Optional[int] = None) -> Dict[str, Any]:
        """One task (the ``show --json`` object).

        Raises:
            NotFound: no such task.
        """
        return self.get("/v1/tasks/" + _quote(task_id) + _query(at=time_text(at), at_seq=at_seq))

    def explain(self, task_id: str, at: Optional[Time] = None, at_seq: Optional[int] = None) -> Dict[str, Any]:
        """Why the task is where it is (the ``explain --json`` object)."""
        return self.get("/v1/tasks/" + _quote(task_id) + "/explain" + _query(at=time_text(at), at_seq=at_seq))

    def events(self, since: Optional[int] = None, task: Optional[str] = None, limit: Optional[int] = None) -> Events:
        """A page of events (``log --json`` objects) from seq ``since`` on, optionally of one
        task. The returned list has ``next_seq``, the ``since`` of the next page."""
        reply = self.get("/v1/events" + _query(since=since, task=task, limit=limit))
        return Events(reply.get("events", []), reply.get("next_seq"))

    def iter_events(self, since: Optional[int] = None, task: Optional[str] = None,
                    page: int = 1000) -> Iterator[Dict[str, Any]]:
        """Every event from ``since`` on, fetched a page at a time; ends at the last one."""
        while True:
            batch = self.events(since=since, task=task, limit=page)
            yield from batch
            if not batch or batch.next_seq is None or batch.next_seq == since:
                return
            since = batch.next_seq

    def task_events(self, task_id: str) -> List[Dict[str, Any]]:
        """All events of one task (GET /v1/tasks/{id}/events)."""
        return list(self.get("/v1/tasks/" + _quote(task_id) + "/events").get("events", []))

    def follow(self, since: Optional[int] = None, task: Optional[str] = None) -> Iterator[Dict[str, Any]]:
        """The events as they commit (GET /v1/events/stream), forever; close the generator
        to stop."""
        for line in self._transport.stream("/v1/events/stream" + _query(since=since, task=task)):
            yield json.loads(line.decode("utf-8"))

    def stats(self, since: Optional[Time] = None) -> Dict[str, Any]:
        """The ``stats --json`` object."""
        return self.get("/v1/stats" + _query(since=time_text(since)))

    def verify(self) -> Dict[str, Any]:
        """The ``verify --json`` object."""
        return self.get("/v1/verify")

    # -- creating and operating -------------------------------------------------------

    def create(self, title: str, id: Optional[str] = None, queue: Optional[str] = None, after: Sequence[str] = (),
               priority: Optional[int] = None, ttl: Optional[Duration] = None, payload: JSON = None,
               max_attempts: Optional[int] = None, max_runtime: Optional[Duration] = None,
               not_before: Optional[Time] = None, idempotency_key: Optional[str] = None,
               backoff: Optional[Duration] = None, backoff_max: Optional[Duration] = None) -> str:
        """Creates a task and returns its id.

        Args:
            title: what the task is.
            id: its id (the server makes one when not given).
            queue: its queue (``default``).
            after: ids of tasks that must be done first.
            priority: higher is claimed first.
            ttl: its leases' length (default 30 s).
            payload: any JSON value for the worker.
            max_attempts, max_runtime, not_before, idempotency_key, backoff, backoff_max: as
                ``taskledger create``'s flags.

        Creating again identically (the same id or idempotency key) returns the same id.

        Raises:
            InvalidArgument: a bad field.
            Refused: the id exists with another spec.
        """
        return str(self.create_reply(title, id=id, queue=queue, after=after, priority=priority, ttl=ttl,
                                 payload=payload, max_attempts=max_attempts, max_runtime=max_runtime,
                                 not_before=not_before, idempotency_key=idempotency_key, backoff=backoff,
                                 backoff_max=backoff_max)["task"])

    def create_reply(self, title: str, id: Optional[str] = None, queue: Optional[str] = None,
                     after: Sequence[str] = (), priority: Optional[int] = None, ttl: Optional[Duration] = None,
                     payload: JSON = None, max_attempts: Optional[int] = None,
                     max_runtime: Optional[Duration] = None, not_before: Optional[Time] = None,
                     idempotency_key: Optional[str] = None, backoff: Optional[Duration] = None,
                     backoff_max: Optional[Duration] = None) -> Reply:
        """:meth:`create`, returning the whole reply (``task``, ``status``, ``seq``, and
        ``existing`` when it had been created already)."""
        if isinstance(after, str):
            after = [after]
        body = _put({"title": title}, id=id, queue=queue, priority=priority, ttl=duration_text(ttl),
                    payload=payload, max_attempts=max_attempts, max_runtime=duration_text(max_runtime),
                    not_before=time_text(not_before), idempotency_key=idempotency_key,
                    backoff=duration_text(backoff), backoff_max=duration_text(backoff_max))
        if after:
            body["after"] = list(after)
        return self.post("/v1/tasks", body)

    def block(self, task_id: str, reason: str, operator: Optional[str] = None) -> Reply:
        """Blocks a task (an operator's hold)."""
        return self.post("/v1/tasks/%s/block" % _quote(task_id),
                         self.stamp(_put({"reason": reason}, operator=operator)))

    def unblock(self, task_id: str, operator: Optional[str] = None) -> Reply:
        """Lifts an operator's block."""
        return self.post("/v1/tasks/%s/unblock" % _quote(task_id), self.stamp(_put({}, operator=operator)))

    def cancel(self, task_id: str, reason: Optional[str] = None, operator: Optional[str] = None) -> Reply:
        """Cancels a task."""
        return self.post("/v1/tasks/%s/cancel" % _quote(task_id),
                         self.stamp(_put({}, reason=reason, operator=operator)))

    def revive(self, task_id: str, operator: Optional[str] = None) -> Reply:
        """Revives a failed or cancelled task."""
        return self.post("/v1/tasks/%s/revive" % _quote(task_id), self.stamp(_put({}, operator=operator)))

    def commands(self, commands: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Several commands committed as one group (POST /v1/commands). Each is a dict with
        ``verb`` (``"create"``, ``"claim"``, ``"heartbeat"``, ...), ``id`` and that verb's
        fields (``"next": True`` for a claim of the next ready task); returns one outcome per
        command: a reply, or ``{"error", "code"}``. Commands but creates are stamped with
        ``pid`` and ``host`` (see ``identify``)."""
        items = [dict(c) if c.get("verb") == "create" else self.stamp(dict(c)) for c in commands]
        return list(self.post("/v1/commands", {"commands": items}).get("outcomes", []))

    # -- leases -----------------------------------------------------------------------

    def claim(self, queue: str = "default", worker: Optional[str] = None,
              ttl: Optional[Duration] = None) -> Optional["Lease"]:
        """Claims the next ready task of ``queue``; ``None`` when nothing is ready.

        Args:
            queue: the queue.
            worker: who claims (default: this client's worker name).
            ttl: the lease's length (default: the task's own ttl).
        """
        worker = worker or self.worker
        body = self.stamp(_put({"worker": worker, "queue": queue}, ttl=duration_text(ttl)))
        try:
            reply = self.post("/v1/claim", body)
        except NotFound:
            return None
        return Lease(self, reply, worker, duration_seconds(ttl))

    def claim_task(self, task_id: str, worker: Optional[str] = None, ttl: Optional[Duration] = None) -> "Lease":
        """Claims one task by id.

        Raises:
            NotFound: no such task.
            Refused: the task cannot be claimed now (held, done, waiting, ...).
        """
        worker = worker or self.worker
        reply = self.post("/v1/tasks/%s/claim" % _quote(task_id),
                          self.stamp(_put({"worker": worker}, ttl=duration_text(ttl))))
        return Lease(self, reply, worker, duration_seconds(ttl))

    def wait_claim(self, queue: str = "default", worker: Optional[str] = None, ttl: Optional[Duration] = None,
                   timeout: Optional[float] = None, poll: float = 0.5,
                   stop: Optional[threading.Event] = None) -> Optional["Lease"]:
        """Claims the next ready task, polling every ``poll`` seconds until there is one.

        Returns ``None`` when ``timeout`` seconds passed (``None``: no limit) or ``stop`` was
        set first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            lease = self.claim(queue=queue, worker=worker, ttl=ttl)
            if lease is not None:
                return lease
            pause = poll
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                pause = min(pause, left)
            if stop is not None:
                if stop.wait(pause):
                    return None
            else:
                time.sleep(pause)  # polling for a ready task, bounded by timeout

    @contextlib.contextmanager
    def lease(self, queue: str = "default", worker: Optional[str] = None, ttl: Optional[Duration] = None,
              timeout: Optional[float] = None, poll: float = 0.5,
              heartbeat_every: Optional[float] = None) -> Iterator["Lease"]:
        """Claims a task and holds its lease for the ``with`` block::

            with client.lease(queue="images", ttl="30s", timeout=60) as lease:
                work(lease.payload)

        Polls until a task is ready (at most ``timeout`` seconds, then raises
        :class:`~taskledger.ClaimTimeout`). A background thread heartbeats every ttl/3 (or
        ``heartbeat_every`` seconds) and sets ``lease.lost`` when a renewal is refused.

        On normal exit the task is completed (with ``lease.result``, if set), unless the
        block already ended it; if the lease was lost, :class:`~taskledger.LeaseLost` is
        raised instead. When the block raises, the task is failed with the exception's text
        (unless the lease was lost or already ended) and the exception propagates.
        """
        lease = self.wait_claim(queue=queue, worker=worker, ttl=ttl, timeout=timeout, poll=poll)
        if lease is None:
            raise ClaimTimeout("no task became ready in queue %s within %ss" % (queue, timeout))
        lease.start_heartbeats(heartbeat_every)
        try:
            yield lease
        except BaseException as e:
            lease.stop_heartbeats()
            if not lease.lost.is_set() and not lease.finished:
                with contextlib.suppress(TaskLedgerError):
                    lease.fail(_exception_text(e))
            raise
        lease.stop_heartbeats()
        if lease.finished:
            return
        if lease.lost.is_set():
            raise LeaseLost("task %s: the lease (token %d) was lost before the block ended" % (lease.task, lease.token),
                            status=409, code="refused")
        lease.complete(lease.result)


def _exception_text(e: BaseException) -> str:
    text = str(e)
    name = type(e).__name__
    line = "%s: %s" % (name, text) if text else name
    return line.splitlines()[0] if line else name


class Lease:
    """A claimed task: its ``task`` id, lease ``token`` and ``deadline_ns``; its holder's
    commands (:meth:`heartbeat`, :meth:`complete`, :meth:`fail`, :meth:`release`,
    :meth:`signal`, :meth:`exit`) raise :class:`~taskledger.LeaseLost` when refused, and
    set :attr:`lost`.

    Attributes:
        task: the task id.
        token: the lease's fencing token.
        deadline_ns: when the lease ends unless renewed (ns since the epoch).
        worker: the holder's name.
        reply: the server's last reply for this lease.
        lost: set the moment the server refuses a command of this lease.
        stopping: set by :class:`~taskledger.Worker` when it is asked to stop (its handlers
            may check it to finish early).
        result: what :meth:`Client.lease` completes the task with on normal exit.
    """

    def __init__(self, client: Client, reply: Reply, worker: str, ttl_s: Optional[float] = None) -> None:
        self.client: Client = client
        self.reply: Reply = reply
        self.task: str = reply["task"]
        self.token: int = int(reply["token"])
        self.deadline_ns: Optional[int] = reply.get("deadline_ns")
        self.worker: str = worker
        self.lost: threading.Event = threading.Event()
        self.stopping: threading.Event = threading.Event()
        self.result: Any = None
        self.finished: bool = False  # completed, failed or released (or exited)
        self._ttl_s = ttl_s
        self._claimed_at = time.time()
        self._lock = threading.RLock()
        self._stop_beats = threading.Event()
        self._beater: Optional[threading.Thread] = None
        self._payload: Any = None
        self._have_payload = False

    def __repr__(self) -> str:
        return "Lease(task=%r, token=%d, worker=%r)" % (self.task, self.token, self.worker)

    @property
    def payload(self) -> Any:
        """The task's payload (fetched once, with :meth:`Client.show`)."""
        if not self._have_payload:
            self._payload = self.client.show(self.task).get("payload")
            self._have_payload = True
        return self._payload

    def show(self) -> Dict[str, Any]:
        """The task now (:meth:`Client.show`)."""
        return self.client.show(self.task)

    @property
    def ttl_seconds(self) -> float:
        """The lease's length in seconds: the ttl asked for, or the one the claim granted."""
        if self._ttl_s:
            return self._ttl_s
        if self.deadline_ns:
            return max(0.05, self.deadline_ns / 1e9 - self._claimed_at)
        return 30.0

    def _command(self, verb: str, body: Dict[str, Any], ends: bool) -> Reply:
        body["token"] = self.token
        body.setdefault("worker", self.worker)
        self.client.stamp(body)
        with self._lock:
            try:
                reply = self.client.post("/v1/tasks/%s/%s" % (_quote(self.task), verb), body, holder=True)
            except LeaseLost:
                self.lost.set()
                self._stop_beats.set()
                raise
            self.reply = reply
            if reply.get("deadline_ns") is not None:
                self.deadline_ns = reply["deadline_ns"]
            if ends:
                self.finished = True
                self._stop_beats.set()
            return reply

    def heartbeat(self, note: Optional[str] = None) -> Reply:
        """Renews the lease (``deadline_ns`` moves on); ``note`` is recorded with it."""
        return self._command("heartbeat", _put({}, note=note), ends=False)

    def complete(self, result: Any = None) -> Reply:
        """Completes the task; ``result`` is text (anything else is sent as JSON text)."""
        return self._command("complete", _put({}, result=None if result is None else _text(result)), ends=True)

    def fail(self, error: Any = None) -> Reply:
        """Fails this attempt (the task is retried while it has attempts left)."""
        return self._command("fail", _put({}, error=None if error is None else _text(error)), ends=True)

    def release(self, reason: Optional[str] = None) -> Reply:
        """Gives the task back, ready for another claim, without counting a failure."""
        return self._command("release", _put({}, reason=reason), ends=True)

    def signal(self, signal: str = "TERM", grace: Optional[Duration] = None) -> Reply:
        """Records that the work was signaled (``"TERM"``, ...); the lease then lasts at most
        ``grace`` more (the server's default grace when not given)."""
        return self._command("signal", _put({"signal": signal}, grace=duration_text(grace)), ends=False)

    def exit(self, code: Optional[int] = None, signal: Optional[str] = None) -> Reply:
        """Records how the work's process ended: an exit ``code`` or a ``signal``."""
        if (code is None) == (signal is None):
            raise TypeError("give exactly one of code and signal")
        return self._command("exit", _put({}, code=code, signal=signal), ends=True)

    # -- the background heartbeat --------------------------------------------------------

    def start_heartbeats(self, every: Optional[float] = None) -> None:
        """Starts a daemon thread heartbeating every ``every`` seconds (default ttl/3) until
        the lease ends, is lost, or :meth:`stop_heartbeats`."""
        if self._beater is not None:
            return
        interval = every if every is not None else self.ttl_seconds / 3.0
        interval = max(interval, 0.01)
        self._stop_beats.clear()
        self._beater = threading.Thread(target=self._beat, args=(interval,), name="taskledger-heartbeat-" + self.task,
                                        daemon=True)
        self._beater.start()

    def stop_heartbeats(self) -> None:
        """Stops the background heartbeat (and waits for it)."""
        self._stop_beats.set()
        beater, self._beater = self._beater, None
        if beater is not None and beater is not threading.current_thread():
            beater.join()

    def _beat(self, interval: float) -> None:
        while not self._stop_beats.wait(interval):
            with self._lock:
                if self._stop_beats.is_set() or self.finished or self.lost.is_set():
                    return
                try:
                    self.heartbeat()
                except LeaseLost:
                    return  # lost is set
                except TaskLedgerError:
                    continue  # unreachable or busy: the next beat tries again
