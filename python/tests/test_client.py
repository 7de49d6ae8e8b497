"""The Python client against a real `taskledger serve --http` (see conftest.py)."""

import datetime
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import List

import pytest

import taskledger
from conftest import PYTHON_DIR, Server


def claim_soon(client: taskledger.Client, worker: str, ttl: str, limit: float = 5) -> taskledger.Lease:
    """Claims from the default queue, polling until a task is ready (at most `limit` s)."""
    deadline = time.monotonic() + limit
    while True:
        lease = client.claim(worker=worker, ttl=ttl)
        if lease is not None:
            return lease
        assert time.monotonic() < deadline, "nothing became ready"
        time.sleep(0.05)  # polling for the lapse, bounded by `limit`


def kinds(client: taskledger.Client, task: str) -> List[str]:
    return [e["kind"] for e in client.events(task=task)]


# -- plain calls ---------------------------------------------------------------------------


def test_create_claim_heartbeat_complete(client: taskledger.Client) -> None:
    task = client.create("resize", id="t1", payload={"dir": "/in", "n": 3}, ttl=20, priority=2,
                         idempotency_key="upload-1")
    assert task == "t1"
    # The same idempotency key again: the task made the first time, not a new one.
    again = client.create_reply("resize", payload={"dir": "/in", "n": 3}, ttl=20, priority=2,
                                idempotency_key="upload-1")
    assert again["task"] == "t1" and again.get("existing") is True
    # The same id again is refused (the server answers `existing` only for idempotency keys).
    with pytest.raises(taskledger.Refused):
        client.create("resize", id="t1", payload={"dir": "/in", "n": 3}, ttl=20, priority=2)
    assert client.show("t1")["status"] == "ready"

    lease = client.claim(worker="w1")
    assert lease is not None
    assert (lease.task, lease.worker) == ("t1", "w1")
    assert lease.token > 0 and lease.deadline_ns is not None
    assert lease.payload == {"dir": "/in", "n": 3}
    first_deadline = lease.deadline_ns
    time.sleep(0.01)  # so the renewed deadline is later
    reply = lease.heartbeat(note="half way")
    assert reply["status"] == "running"
    assert lease.deadline_ns > first_deadline

    lease.complete("3 images")
    assert lease.finished
    shown = client.show("t1")
    assert shown["status"] == "done"
    assert kinds(client, "t1") == ["created", "claimed", "heartbeat", "completed"]
    completed = client.events(task="t1")[-1]
    assert completed["result"] == "3 images" and completed["token"] == lease.token


def test_claim_returns_none_when_nothing_is_ready(client: taskledger.Client) -> None:
    assert client.claim(queue="empty", worker="w") is None
    client.create("first", id="a", queue="elsewhere")
    client.create("later", id="b", after=["a"])  # waits for a, which is not done
    assert client.claim(worker="w") is None
    assert client.show("b")["status"] == "waiting"


def test_reads(client: taskledger.Client) -> None:
    client.create("one", id="r1", queue="q1")
    client.create("two", id="r2", queue="q2")
    lease = client.claim_task("r2", worker="w", ttl="10s")
    assert lease.task == "r2"
    assert {t["task"] for t in client.ls()} == {"r1", "r2"}
    assert [t["task"] for t in client.ls(status="running")] == ["r2"]
    assert [t["task"] for t in client.ls(queue="q1")] == ["r1"]
    now = client.now()
    assert now["last_seq"] == 3 and now["now_ns"] > 0 and now["now"].endswith("Z")
    assert [t["task"] for t in client.ls(at_seq=1)] == ["r1"]
    page = client.events(since=2, limit=1)
    assert [e["seq"] for e in page] == [2] and page.next_seq == 3
    assert [e["seq"] for e in client.iter_events(page=2)] == [1, 2, 3]
    assert [e["kind"] for e in client.task_events("r2")] == ["created", "claimed"]
    explained = client.explain("r1")
    assert explained["task"] == "r1" and explained["status"] == "ready"
    stream = client.follow(since=2)
    assert [next(stream)["seq"], next(stream)["seq"]] == [2, 3]
    stream.close()
    assert client.verify()["ok"] is True
    assert client.stats()["tasks"] == 2
    assert client.healthz()
    assert "taskledger" in client.metrics()


def test_operators_and_batches(client: taskledger.Client) -> None:
    client.create("op", id="op")
    assert client.block("op", "waiting for the vendor", operator="alice")["status"] == "blocked"
    assert client.claim(worker="w") is None
    assert client.unblock("op", operator="alice")["status"] == "ready"
    assert client.cancel("op", reason="not needed")["status"] == "cancelled"
    assert client.revive("op")["status"] == "ready"
    outcomes = client.commands([{"verb": "create", "id": "b1", "title": "one"},
                                {"verb": "claim", "id": "b1", "worker": "w"},
                                {"verb": "claim", "id": "nope", "worker": "w"}])
    assert outcomes[0]["task"] == "b1" and outcomes[1]["status"] == "running"
    assert outcomes[2]["code"] == "not_found" and outcomes[2]["error"]


def test_bad_input_raises_invalid_argument(client: taskledger.Client) -> None:
    with pytest.raises(taskledger.InvalidArgument) as caught:
        client.create("bad ttl", ttl="soon")
    assert caught.value.status == 400 and caught.value.code == "invalid_argument"
    assert caught.value.message and "\n" not in caught.value.message
    with pytest.raises(taskledger.InvalidArgument):
        client.create("negative ttl", ttl=-5)
    with pytest.raises(taskledger.InvalidArgument):
        client.create("bad priority", priority="high")  # type: ignore[arg-type]
    with pytest.raises(taskledger.InvalidArgument):
        client.post("/v1/tasks", {"title": "x", "colour": "blue"})  # an unknown key
    with pytest.raises(taskledger.InvalidArgument):
        client.claim(worker="w", ttl="-1s")
    assert client.ls() == []  # nothing was written

    with pytest.raises(taskledger.NotFound) as missing:
        client.show("nope")
    assert missing.value.status == 404 and missing.value.code == "not_found"
    with pytest.raises(taskledger.NotFound):
        client.get("/v1/no-such-path")

    client.create("done soon", id="d")
    client.claim_task("d", worker="w").complete()
    with pytest.raises(taskledger.Refused) as refused:
        client.claim_task("d", worker="w")
    assert refused.value.status == 409 and not isinstance(refused.value, taskledger.LeaseLost)

    with pytest.raises(ValueError):
        taskledger.Client("ftp://somewhere")
    with pytest.raises(TypeError):
        client.create("bad duration type", ttl=[1])  # type: ignore[arg-type]


def test_durations_and_addresses(monkeypatch: pytest.MonkeyPatch, server: Server) -> None:
    assert taskledger.duration_text(30) == "30s"
    assert taskledger.duration_text(1.5) == "1500ms"
    assert taskledger.duration_text(datetime.timedelta(minutes=2)) == "120s"
    assert taskledger.duration_text(0.0000005) == "500ns"
    assert taskledger.duration_text("5m") == "5m"
    assert taskledger.duration_seconds("1m30s") == 90.0
    assert taskledger.duration_seconds("1500ms") == 1.5
    assert taskledger.parse_address("tcp:127.0.0.1:8080").port == 8080
    assert taskledger.parse_address("http://127.0.0.1:8080").host == "127.0.0.1"
    monkeypatch.setenv("TASKLEDGER_HTTP", server.address)
    with taskledger.Client() as c:
        assert c.address.path == str(server.http)
        assert c.create("from the environment") != ""


def test_tcp_addresses(tcp_server: Server) -> None:
    assert tcp_server.address.startswith("tcp:127.0.0.1:")
    port = tcp_server.address.rsplit(":", 1)[1]
    for address in (tcp_server.address, "http://127.0.0.1:" + port, "http://127.0.0.1:%s/" % port):
        with taskledger.Client(address) as c:
            task = c.create("over tcp")  # a POST: Content-Type is application/json, no Origin
            lease = c.claim(worker="tcp")
            assert lease is not None and lease.task == task
            lease.complete()
            assert c.show(task)["status"] == "done"
    with taskledger.Client(tcp_server.address) as c:
        with pytest.raises(taskledger.MethodNotAllowed) as wrong:
            c.post("/v1/now", {})
        assert wrong.value.status == 405 and isinstance(wrong.value, taskledger.InvalidArgument)
        with pytest.raises(taskledger.Forbidden) as foreign:
            c._transport.request("POST", "/v1/tasks", {"title": "x"}, headers={"Origin": "http://evil.example"})
        assert foreign.value.status == 403


def test_threads_share_one_client(client: taskledger.Client) -> None:
    errors: List[BaseException] = []

    def create_some(n: int) -> None:
        try:
            for i in range(15):
                client.create("t", id="c%d-%d" % (n, i))
                client.show("c%d-%d" % (n, i))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=create_some, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(client.ls()) == 90
    idle = client._transport._idle
    assert 1 <= len(idle) <= 6  # kept alive for reuse, not one per request
    assert max(pooled.used for pooled in idle) > 1


# -- leases --------------------------------------------------------------------------------


def test_stale_token_raises_lease_lost(client: taskledger.Client) -> None:
    client.create("contended", id="s")
    first = client.claim(worker="slow", ttl=0.3)
    assert first is not None
    # The lease lapses after 0.3 s; a second worker then takes the task over.
    second = claim_soon(client, worker="fast", ttl="10s")
    assert second.task == "s" and second.token > first.token
    with pytest.raises(taskledger.LeaseLost) as lost:
        first.heartbeat()
    assert lost.value.status == 409 and lost.value.code == "refused"
    assert isinstance(lost.value, taskledger.Refused)
    assert first.lost.is_set()
    with pytest.raises(taskledger.LeaseLost):
        first.complete("too late")
    second.complete("mine")
    assert client.show("s")["status"] == "done"
    # The refusal is recorded with the zombie's pid and host (the client stamps its commands).
    rejected = [e for e in client.events(task="s") if e["kind"] == "rejected"]
    assert rejected and rejected[0]["pid"] == os.getpid() and rejected[0]["host"] == socket.gethostname()
    assert rejected[0]["actor"] == "slow" and rejected[0]["token"] == first.token


def test_lease_context_completes_and_heartbeats(client: taskledger.Client) -> None:
    client.create("held", id="h")
    with client.lease(worker="w", ttl=1, timeout=5) as lease:
        assert lease.task == "h"
        time.sleep(2.5)  # over two ttls: only the background heartbeats (every 1/3 s) keep the lease
        assert not lease.lost.is_set()
        lease.result = "kept alive"
    assert client.show("h")["status"] == "done"
    events = client.events(task="h")
    assert [e["kind"] for e in events].count("heartbeat") >= 4
    assert events[-1]["kind"] == "completed" and events[-1]["result"] == "kept alive"


def test_lease_context_fails_on_exception(client: taskledger.Client) -> None:
    client.create("doomed", id="f", max_attempts=1)
    with pytest.raises(RuntimeError):
        with client.lease(worker="w", ttl="10s", timeout=5):
            raise RuntimeError("disk full")
    failed = client.events(task="f")[-1]
    assert failed["kind"] == "failed" and "disk full" in failed["error"]
    assert client.show("f")["status"] == "dead"


def test_lease_context_timeout(client: taskledger.Client) -> None:
    started = time.monotonic()
    with pytest.raises(taskledger.ClaimTimeout):
        with client.lease(queue="empty", worker="w", timeout=0.3, poll=0.05):
            pass
    assert time.monotonic() - started < 3


def test_lease_context_sets_lost(client: taskledger.Client) -> None:
    client.create("taken over", id="x")
    with pytest.raises(taskledger.LeaseLost):
        # The heartbeat comes too late (after 0.8 s for a 0.3 s lease): by then another
        # worker holds the task, so the renewal is refused and `lost` is set.
        with client.lease(worker="late", ttl=0.3, timeout=5, heartbeat_every=0.8) as lease:
            claim_soon(client, worker="thief", ttl="10s")
            assert lease.lost.wait(5)
    assert client.show("x")["holder"] == "thief"
    assert "failed" not in kinds(client, "x") and "completed" not in kinds(client, "x")


# -- the worker ----------------------------------------------------------------------------


def test_worker_drains_20_tasks_4_at_a_time(client: taskledger.Client) -> None:
    for i in range(20):
        client.create("job %d" % i, id="j%02d" % i, queue="jobs", payload={"n": i})
    lock = threading.Lock()
    active, peak, seen = [0], [0], []

    def handle(lease: taskledger.Lease) -> str:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            seen.append(lease.task)
        time.sleep(0.1)  # some work, so that handlers overlap
        with lock:
            active[0] -= 1
        return "did %d" % lease.payload["n"]

    worker = taskledger.Worker(client, "jobs", handle, concurrency=4, worker="pool", poll=0.05)
    started = time.monotonic()
    worker.run(exit_when_idle=True)
    assert time.monotonic() - started < 10
    assert sorted(seen) == ["j%02d" % i for i in range(20)]
    assert worker.completed == 20 and worker.failed == 0
    assert 2 <= peak[0] <= 4
    assert {t["status"] for t in client.ls(queue="jobs")} == {"done"}
    assert client.events(task="j07")[-1]["result"] == "did 7"


def test_worker_fails_a_raising_handler(client: taskledger.Client) -> None:
    client.create("bad", id="bad", queue="w", max_attempts=1)

    def handle(lease: taskledger.Lease) -> None:
        raise ValueError("no such image")

    worker = taskledger.Worker(client, "w", handle, poll=0.05)
    worker.run(exit_when_idle=True)
    assert worker.failed == 1
    assert client.show("bad")["status"] == "dead"
    assert "no such image" in client.events(task="bad")[-1]["error"]


def test_worker_sigterm_drain(client: taskledger.Client, server: Server) -> None:
    client.create("quick", id="quick", queue="drain", payload={"mode": "quick"})
    client.create("stuck", id="stuck", queue="drain", payload={"mode": "stuck"})
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    process = subprocess.Popen([sys.executable, str(PYTHON_DIR / "tests" / "sigterm_worker.py"), server.address,
                                "drain"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        started = {process.stdout.readline().split()[-1] for _ in range(2)}
        assert started == {"quick", "stuck"}
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "returned completed=1 released=1" in out, (out, err)
    assert took < 5  # bounded by the 1.5 s grace, not by the stuck handler's 30 s

    for task in ("quick", "stuck"):
        signaled = [e for e in client.events(task=task) if e["kind"] == "signaled"]
        assert len(signaled) == 1 and signaled[0]["signal"] in ("TERM", "SIGTERM"), task
        assert signaled[0]["grace_ns"] == 1_500_000_000
    assert kinds(client, "quick")[-1] == "completed"
    assert client.show("quick")["status"] == "done"
    assert kinds(client, "stuck")[-1] == "released"
    assert client.show("stuck")["status"] == "ready"
    log = server.cli("log", "--task", "stuck")
    assert "signaled" in log and "released" in log


def test_unknown_outcome_is_its_own_error_and_not_retried() -> None:
    # A cluster's writer that did not answer: 504 unknown_outcome. Not Busy, so the
    # transport does not send it again (a retry could act twice).
    from taskledger.errors import error_for
    error = error_for(504, "unknown_outcome", "the partition's writer did not answer in time")
    assert isinstance(error, taskledger.UnknownOutcome)
    assert not isinstance(error, taskledger.Busy)
    assert error.status == 504 and error.code == "unknown_outcome"
    assert isinstance(error_for(504, "", "no body"), taskledger.UnknownOutcome)
