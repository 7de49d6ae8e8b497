"""A real `taskledger serve --http` for the tests.

The binary: $TASKLEDGER_BIN, default build/tools/taskledger under the repository root.
"""

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Callable, Iterator

import pytest

HERE = pathlib.Path(__file__).resolve().parent
PYTHON_DIR = HERE.parent
REPO = PYTHON_DIR.parent
sys.path.insert(0, str(PYTHON_DIR))

import taskledger  # noqa: E402


def wait_for(condition: Callable[[], bool], limit: float, what: str, every: float = 0.01) -> None:
    """Polls `condition` until it holds, for at most `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)  # polling a condition, bounded by `limit`
    raise AssertionError("timed out waiting for " + what)


class Server:
    """A running server: its sockets, directory and process."""

    def __init__(self, binary: str, root: pathlib.Path, tcp: bool = False) -> None:
        self.binary = binary
        self.root = root
        self.db = root / "db"
        self.rpc = root / "rpc.sock"
        self.http = root / "http.sock"
        self.out_path = root / "server.out"
        with open(self.out_path, "w") as out:
            self.process = subprocess.Popen(
                [binary, "--db", str(self.db), "serve", "--listen", "unix:" + str(self.rpc),
                 "--http", "tcp:127.0.0.1:0" if tcp else "unix:" + str(self.http)],
                stdout=out, stderr=subprocess.STDOUT)
        wait_for(lambda: self.process.poll() is not None or ("listening on" in self.output() and
                                                              (tcp or self.http.exists())),
                 20, "the server to listen")
        assert self.process.poll() is None, self.output()
        # `http on unix:/abs/path` or `http on tcp:127.0.0.1:PORT` (the real port), printed
        # before `listening on`.
        shown = [line.split(" ", 2)[2] for line in self.output().splitlines() if line.startswith("http on ")]
        assert shown, self.output()
        self.address: str = shown[0]

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def cli(self, *args: str) -> str:
        """Runs the CLI through the server's RPC socket."""
        done = subprocess.run([self.binary, "--connect", "unix:" + str(self.rpc), *args], capture_output=True,
                              text=True, timeout=30)
        assert done.returncode == 0, (args, done.returncode, done.stderr)
        return done.stdout

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def binary() -> str:
    path = os.environ.get("TASKLEDGER_BIN") or str(REPO / "build" / "tools" / "taskledger")
    if not os.access(path, os.X_OK):
        pytest.fail("no taskledger binary at %s (build it, or set TASKLEDGER_BIN)" % path)
    return path


@pytest.fixture()
def tcp_server(binary: str) -> Iterator[Server]:
    """A fresh server whose HTTP listener is on TCP (loopback, a port of the system's choice)."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="tl-py-"))
    s = Server(binary, root, tcp=True)
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def server(binary: str) -> Iterator[Server]:
    """A fresh server (and ledger) for each test, in a short temporary directory (a Unix
    socket's path must stay under 108 bytes)."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="tl-py-"))
    s = Server(binary, root)
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def client(server: Server) -> Iterator[taskledger.Client]:
    with taskledger.Client(server.address, timeout=10) as c:
        yield c
