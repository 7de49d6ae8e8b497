"""A worker loop: claims tasks, runs a handler for each in a thread, ends the lease."""

import logging
import signal as signals
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .client import Client, Lease, _exception_text
from .durations import Duration, duration_seconds, duration_text
from .errors import LeaseLost, TaskLedgerError

__all__ = ["Worker"]

log = logging.getLogger("taskledger.worker")

Handler = Callable[[Lease], Any]


class Worker:
    """Runs ``handler(lease)`` for tasks claimed from ``queue``, up to ``concurrency`` at once.

    A handler's return value completes the task (as its result: text, or JSON of anything
    else); an exception fails it with the exception's text. A handler may also end the
    lease itself (``lease.complete(...)``, ``lease.release()``, ...). While it runs, the
    lease is heartbeated every ttl/3.

    :meth:`run` returns after SIGTERM or SIGINT (or :meth:`stop`): it stops claiming,
    records a ``signal`` (TERM, with the grace) for each task it holds, sets their
    ``lease.stopping``, waits up to ``grace`` for the handlers to finish, and releases the
    tasks whose handlers are still running (a little before the grace ends, min(1 s,
    grace/4), so that the releases land while the leases last). Handlers still running are
    left to their daemon threads: :meth:`run` returns all the same.

    Example::

        def handle(lease):
            return "resized %d images" % resize(lease.payload["dir"])

        Worker(Client(), "images", handle, concurrency=4).run()
    """

    def __init__(self, client: Client, queue: str, handler: Handler, concurrency: int = 1,
                 worker: Optional[str] = None, ttl: Duration = "30s", grace: Duration = "10s",
                 poll: float = 0.5) -> None:
        """
        Args:
            client: the server.
            queue: the queue to claim from.
            handler: called with each :class:`~taskledger.Lease`, in a thread of its own.
            concurrency: how many tasks are held at once.
            worker: the worker name (default: the client's, ``HOST:PID``).
            ttl: the length of each lease (heartbeats every third of it).
            grace: how long handlers get to finish once the worker is asked to stop.
            poll: seconds between claims while nothing is ready.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.client = client
        self.queue = queue
        self.handler = handler
        self.concurrency = concurrency
        self.worker: str = worker or client.worker
        self.ttl: Optional[str] = duration_text(ttl)
        self.grace: str = duration_text(grace) or "10s"
        self.grace_seconds: float = duration_seconds(self.grace) or 0.0
        self.poll = poll
        self.completed = 0  # tasks completed (counters, for the curious)
        self.failed = 0
        self.released = 0
        self._stop = threading.Event()
        self._changed = threading.Condition(threading.RLock())  # reentrant: stop() runs in signal handlers
        self._running: Dict[str, Tuple[Lease, threading.Thread]] = {}

    def stop(self) -> None:
        """Asks :meth:`run` to stop (what SIGTERM and SIGINT do); safe from any thread."""
        self._stop.set()
        with self._changed:
            self._changed.notify_all()

    @property
    def stopping(self) -> bool:
        """True once asked to stop."""
        return self._stop.is_set()

    def run(self, exit_when_idle: bool = False, handle_signals: bool = True) -> None:
        """Claims and handles tasks until stopped (see the class), then drains and returns.

        Args:
            exit_when_idle: also return once nothing is ready and no handler is running.
            handle_signals: install SIGTERM and SIGINT handlers that call :meth:`stop` (only
                possible in the main thread; the previous handlers come back on return).
        """
        previous: Dict[signals.Signals, Any] = {}
        if handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signals.SIGTERM, signals.SIGINT):
                previous[sig] = signals.signal(sig, lambda _signo, _frame: self.stop())
        try:
            self._loop(exit_when_idle)
            self._drain()
        finally:
            for sig, handler in previous.items():
                signals.signal(sig, handler)

    def _loop(self, exit_when_idle: bool) -> None:
        while not self._stop.is_set():
            with self._changed:
                while len(self._running) >= self.concurrency and not self._stop.is_set():
                    self._changed.wait(self.poll)
            if self._stop.is_set():
                return
            try:
                lease = self.client.claim(queue=self.queue, worker=self.worker, ttl=self.ttl)
            except TaskLedgerError as e:
                log.warning("claim from queue %s failed: %s", self.queue, e)
                lease = None
            if lease is None:
                with self._changed:
                    if exit_when_idle and not self._running:
                        return
                    # Nothing ready: wait a poll, or less if a handler ends or stop comes.
                    self._changed.wait(self.poll)
                continue
            if self._stop.is_set():
                # Stopped while claiming: hand the task straight back.
                self._release(lease, "worker stopping")
                return
            self._start(lease)

    def _start(self, lease: Lease) -> None:
        thread = threading.Thread(target=self._handle, args=(lease,), name="taskledger-task-" + lease.task,
                                  daemon=True)
        with self._changed:
            self._running[lease.task] = (lease, thread)
        lease.start_heartbeats()
        thread.start()

    def _handle(self, lease: Lease) -> None:
        try:
            try:
                result = self.handler(lease)
            except BaseException as e:  # noqa: B902 - a handler's every failure fails the task
                lease.stop_heartbeats()
                if lease.finished or lease.lost.is_set():
                    return
                log.info("task %s failed: %s", lease.task, e)
                try:
                    lease.fail(_exception_text(e))
                    self._count("failed")
                except LeaseLost:
                    log.warning("task %s: lease lost before its failure was recorded", lease.task)
                except TaskLedgerError as err:
                    log.warning("task %s: recording its failure failed: %s", lease.task, err)
                return
            lease.stop_heartbeats()
            if lease.finished or lease.lost.is_set():
                return
            try:
                lease.complete(result)
                self._count("completed")
            except LeaseLost:
                log.warning("task %s: lease lost before its completion was recorded", lease.task)
            except TaskLedgerError as err:
                log.warning("task %s: recording its completion failed: %s", lease.task, err)
        finally:
            with self._changed:
                self._running.pop(lease.task, None)
                self._changed.notify_all()

    def _count(self, what: str) -> None:
        with self._changed:
            setattr(self, what, getattr(self, what) + 1)

    def _release(self, lease: Lease, reason: str) -> None:
        lease.stop_heartbeats()
        if lease.finished or lease.lost.is_set():
            return
        try:
            lease.release(reason)
            self._count("released")
        except TaskLedgerError as e:
            log.warning("task %s: release failed: %s", lease.task, e)

    def _drain(self) -> None:
        """Signals the held tasks, waits up to the grace, releases what is left."""
        with self._changed:
            held: List[Lease] = [lease for lease, _ in self._running.values()]
        if not held:
            return
        started = time.monotonic()
        for lease in held:
            lease.stopping.set()
            if lease.finished or lease.lost.is_set():
                continue
            try:
                lease.signal("TERM", grace=self.grace)
            except TaskLedgerError as e:
                log.warning("task %s: recording the signal failed: %s", lease.task, e)
        # Release before the grace ends the leases: keep a margin for the releases themselves.
        margin = min(1.0, self.grace_seconds / 4.0)
        until = started + max(0.0, self.grace_seconds - margin)
        with self._changed:
            while self._running:
                left = until - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            remaining = [lease for lease, _ in self._running.values()]
        for lease in remaining:
            self._release(lease, "worker stopped: the handler outlived the %s grace" % self.grace)
