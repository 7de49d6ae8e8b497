"""HTTP/1.1 to the server: addresses, a Unix-socket connection, and a keep-alive pool.

Addresses are ``unix:/path/to/http.sock``, ``tcp:127.0.0.1:PORT`` or
``http://127.0.0.1:PORT``.
"""

import http.client
import json
import socket
import threading
import time
import urllib.parse
from typing import Any, Dict, Iterator, List, Optional, Tuple

from .errors import Busy, ProtocolError, TaskLedgerError, Unavailable, error_for

__all__ = ["UnixHTTPConnection", "Address", "parse_address", "Transport"]

# A kept-alive connection idle for longer than this is not reused: the server drops idle
# connections after 30 s, and a request sent into one it is closing could be lost.
_MAX_IDLE_S = 20.0


class UnixHTTPConnection(http.client.HTTPConnection):
    """An :class:`http.client.HTTPConnection` over a Unix stream socket."""

    def __init__(self, path: str, timeout: Optional[float] = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path: str = path

    def connect(self) -> None:
        """Opens the AF_UNIX socket (instead of a TCP connection)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if self.timeout is not None and self.timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(self.timeout)
            sock.connect(self.unix_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class Address:
    """A parsed server address.

    Attributes:
        kind: ``"unix"`` or ``"tcp"``.
        path: the socket path (unix).
        host, port: the listener (tcp).
        text: the address as given.
    """

    def __init__(self, kind: str, text: str, path: str = "", host: str = "", port: int = 0) -> None:
        self.kind, self.text, self.path, self.host, self.port = kind, text, path, host, port

    def __repr__(self) -> str:
        return "Address(%r)" % self.text

    @property
    def origin(self) -> str:
        """The ``Host`` the requests name (``HOST:PORT`` on TCP, ``localhost`` on a socket)."""
        return "%s:%d" % (self.host, self.port) if self.kind == "tcp" else "localhost"

    def connection(self, timeout: Optional[float]) -> http.client.HTTPConnection:
        """A new (not yet connected) connection to this address."""
        if self.kind == "unix":
            return UnixHTTPConnection(self.path, timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


def parse_address(text: str) -> Address:
    """Parses ``unix:PATH``, ``tcp:HOST:PORT`` or ``http://HOST:PORT``.

    Raises:
        ValueError: for anything else.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("no server address: give unix:/path, tcp:HOST:PORT or http://HOST:PORT "
                         "(or set TASKLEDGER_HTTP)")
    if text.startswith("unix:"):
        path = text[len("unix:"):]
        if not path:
            raise ValueError("bad address %r: no socket path" % text)
        return Address("unix", text, path=path)
    if text.startswith("tcp:"):
        hostport = text[len("tcp:"):]
    elif text.startswith("http://"):
        parsed = urllib.parse.urlsplit(text)
        if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
            raise ValueError("bad address %r: give only http://HOST:PORT" % text)
        hostport = parsed.netloc
    else:
        raise ValueError("bad address %r: give unix:/path, tcp:HOST:PORT or http://HOST:PORT" % text)
    host, sep, port_text = hostport.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError("bad address %r: expected HOST:PORT" % text)
    return Address("tcp", text, host=host, port=int(port_text))


class _Pooled:
    """One kept-alive connection and when it was last used."""

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self.conn = conn
        self.used = 0  # requests sent on it
        self.last = time.monotonic()


class Transport:
    """Sends requests over a pool of kept-alive connections; safe to share between threads.

    Each request takes an idle connection (or opens one), and puts it back when the reply
    has been read, so concurrent threads each get their own connection.
    """

    def __init__(self, address: Address, timeout: Optional[float] = 30.0, busy_retry: float = 5.0,
                 max_idle: int = 8) -> None:
        """
        Args:
            address: where the server listens.
            timeout: socket timeout of each request, in seconds (None: none).
            busy_retry: how long 503 ``busy`` replies are retried (with backoff) before
                :class:`~taskledger.Busy` is raised; 0 to raise at once.
            max_idle: how many idle connections are kept.
        """
        self.address = address
        self.timeout = timeout
        self.busy_retry = busy_retry
        self.max_idle = max_idle
        self._lock = threading.Lock()
        self._idle: List[_Pooled] = []
        self._closed = False

    def close(self) -> None:
        """Closes the idle connections (those in use close when their request ends)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._closed = True
        for pooled in idle:
            pooled.conn.close()

    def _take(self) -> _Pooled:
        now = time.monotonic()
        stale: List[_Pooled] = []
        taken: Optional[_Pooled] = None
        with self._lock:
            self._closed = False
            while self._idle:
                pooled = self._idle.pop()
                if now - pooled.last > _MAX_IDLE_S:
                    stale.append(pooled)
                    continue
                taken = pooled
                break
        for pooled in stale:
            pooled.conn.close()
        return taken or _Pooled(self.address.connection(self.timeout))

    def _give_back(self, pooled: _Pooled) -> None:
        pooled.last = time.monotonic()
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(pooled)
                return
        pooled.conn.close()

    def _exchange(self, method: str, path: str, body: Optional[bytes],
                  headers: Dict[str, str]) -> Tuple[int, Dict[str, str], bytes]:
        """One request and its whole reply; retried once on a fresh connection when a reused
        one turns out to have been closed by the server before it took the request."""
        for attempt in (0, 1):
            pooled = self._take()
            reused = pooled.used > 0
            try:
                pooled.used += 1
                pooled.conn.request(method, path, body=body, headers=headers)
                response = pooled.conn.getresponse()
                data = response.read()
                reply_headers = {k.lower(): v for k, v in response.getheaders()}
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                pooled.conn.close()
                if reused and attempt == 0:
                    continue  # the server had closed the kept-alive connection: once more, anew
                raise Unavailable("cannot reach the server at %s: %s" % (self.address.text, e)) from e
            except (OSError, http.client.HTTPException) as e:
                pooled.conn.close()
                raise Unavailable("cannot reach the server at %s: %s" % (self.address.text, e)) from e
            except BaseException:
                pooled.conn.close()
                raise
            if response.will_close:
                pooled.conn.close()
            else:
                self._give_back(pooled)
            return response.status, reply_headers, data
        raise AssertionError("unreachable")

    def request(self, method: str, path: str, body: Optional[Dict[str, Any]] = None,
                holder: bool = False, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, str], bytes]:
        """Sends a request and returns ``(status, headers, body)`` of a 2xx reply.

        Args:
            method: ``"GET"`` or ``"POST"``.
            path: the path with its query.
            body: the JSON object to send (POST).
            holder: a lease holder's command: a 409 raises :class:`~taskledger.LeaseLost`.
            headers: more request headers.

        Raises:
            TaskLedgerError: a subclass for an error reply; :class:`~taskledger.Unavailable`
                when the server cannot be reached.
        """
        headers = {"Host": self.address.origin, "Accept": "application/json", **(headers or {})}
        data: Optional[bytes] = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        deadline = time.monotonic() + self.busy_retry
        pause = 0.05
        while True:
            status, reply_headers, raw = self._exchange(method, path, data, headers)
            if 200 <= status < 300:
                return status, reply_headers, raw
            error = _error_of(status, reply_headers, raw, holder)
            if isinstance(error, Busy) and time.monotonic() + pause < deadline:
                time.sleep(pause)  # back off, bounded by busy_retry
                pause = min(pause * 2, 1.0)
                continue
            raise error

    def json(self, method: str, path: str, body: Optional[Dict[str, Any]] = None, holder: bool = False) -> Any:
        """:meth:`request`, and the reply parsed as JSON."""
        _, headers, raw = self.request(method, path, body, holder)
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError as e:
            raise ProtocolError("the server's reply to %s %s is not JSON: %r" % (method, path, raw[:200]),
                                status=200) from e

    def stream(self, path: str) -> Iterator[bytes]:
        """GETs ``path`` on a connection of its own and yields the lines of the reply as they
        come (for ``/v1/events/stream``); the connection closes when the generator does."""
        conn = self.address.connection(None)
        try:
            try:
                conn.request("GET", path, headers={"Host": self.address.origin})
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                raise Unavailable("cannot reach the server at %s: %s" % (self.address.text, e)) from e
            if response.status != 200:
                raw = response.read()
                raise _error_of(response.status, {k.lower(): v for k, v in response.getheaders()}, raw, False)
            while True:
                try:
                    line = response.readline()
                except (OSError, http.client.HTTPException) as e:
                    raise Unavailable("the event stream from %s broke: %s" % (self.address.text, e)) from e
                if not line:
                    return
                line = line.strip()
                if line:
                    yield line
        finally:
            conn.close()


def _error_of(status: int, headers: Dict[str, str], raw: bytes, holder: bool) -> TaskLedgerError:
    """The exception for an error reply: its JSON ``error`` and ``code`` when it has them."""
    message, code = "", ""
    try:
        parsed = json.loads(raw.decode("utf-8"))
        if isinstance(parsed, dict):
            message = str(parsed.get("error", ""))
            code = str(parsed.get("code", ""))
    except ValueError:
        message = raw.decode("utf-8", "replace").strip().splitlines()[0] if raw.strip() else ""
    if not message:
        message = "HTTP %d %s" % (status, http.client.responses.get(status, ""))
    return error_for(status, code, message, holder)
