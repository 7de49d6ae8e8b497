#!/usr/bin/env python3
"""GET /metrics of a real `taskledger serve --http` parsed by the Prometheus Python client
(Debian: python3-prometheus-client): any parse error fails; a few values are checked.

Usage: metrics_parse_test.py TASKLEDGER_BINARY. Exits 77 (skipped, visibly) when the
prometheus_client module is not installed.
"""
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("SKIP: python3-prometheus-client is not installed")
    sys.exit(77)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def wait_for(condition, limit, what):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)  # polling a condition, bounded by `limit`
    raise AssertionError("timed out waiting for " + what)


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="taskledger-metrics-parse") as root:
        rpc, web, out = root + "/rpc.sock", root + "/http.sock", root + "/server.out"
        with open(out, "w") as log:
            server = subprocess.Popen([binary, "--db", root + "/ledger.db", "serve", "--listen", "unix:" + rpc,
                                       "--http", "unix:" + web], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: server.poll() is not None or "listening on" in open(out).read(), 20, "the server")
            assert server.poll() is None, open(out).read()

            def cli(*args, code=0):
                done = subprocess.run([binary, "--connect", "unix:" + rpc, *args], capture_output=True, text=True)
                assert done.returncode == code, (args, done.returncode, done.stderr)
                return done.stdout

            cli("create", "t1", "--title", 'a "quoted"\ntitle')
            task, token = cli("claim", "--next", "--worker", "w1").split()[:2]
            cli("heartbeat", task, "--worker", "w1", "--token", str(int(token) - 1), code=3)
            cli("complete", task, "--worker", "w1", "--token", token)
            # A queue name needing escapes in a label value: a quote and a backslash.
            odd_queue = 'q"x\\y'
            cli("create", "t2", "--title", "elsewhere", "--queue", odd_queue)

            connection = UnixHTTPConnection(web)
            connection.request("GET", "/metrics")
            response = connection.getresponse()
            assert response.status == 200, response.status
            assert response.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
            text = response.read().decode("utf-8")

            samples = {}
            families = list(text_string_to_metric_families(text))  # raises on any parse error
            for family in families:
                assert family.documentation, family.name + " has no HELP"
                assert family.type != "unknown", family.name + " has no TYPE"
                for s in family.samples:
                    samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
                if family.type == "histogram":
                    # One series per set of labels besides le (attempt_duration has `how`).
                    series = {}
                    for s in family.samples:
                        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                        series.setdefault(key, []).append(s)
                    for key, samples_of in series.items():
                        what = family.name + repr(key)
                        buckets = [s for s in samples_of if s.name.endswith("_bucket")]
                        counts = [s.value for s in buckets]
                        assert counts == sorted(counts), what + ": buckets not cumulative"
                        assert buckets[-1].labels["le"] == "+Inf", what
                        count = [s.value for s in samples_of if s.name.endswith("_count")][0]
                        assert buckets[-1].value == count, what

            def value(name, **labels):
                return samples.get((name, tuple(sorted(labels.items()))))

            assert value("taskledger_commands_total", kind="create", outcome="ok") == 2, text
            assert value("taskledger_commands_total", kind="heartbeat", outcome="refused") == 1, text
            assert value("taskledger_leases_granted_total") == 1, text
            assert value("taskledger_rejections_total", command="heartbeat", reason="stale_token") == 1, text
            assert value("taskledger_last_seq") == 5, text
            assert value("taskledger_command_duration_seconds_count") == 5, text
            assert value("taskledger_queue_wait_seconds_count") == 1, text
            assert value("taskledger_attempt_duration_seconds_count", how="completed") == 1, text
            assert value("taskledger_attempt_duration_seconds_count", how="expired") == 0, text
            assert value("taskledger_recovery_seconds_count") == 0, text
            assert value("taskledger_tasks", queue="default", status="done") == 1, text
            assert value("taskledger_tasks", queue="default", status="running") == 0, text
            assert value("taskledger_tasks", queue=odd_queue, status="ready") == 1, text
            assert value("taskledger_active_leases", queue="default") == 0, text
            assert value("taskledger_active_leases", queue=odd_queue) == 0, text
            assert value("taskledger_tasks_scan_seconds") is not None, text
            types = {family.name: family.type for family in families}
            for name, kind in [("taskledger_tasks", "gauge"), ("taskledger_active_leases", "gauge"),
                               ("taskledger_queue_wait_seconds", "histogram"),
                               ("taskledger_attempt_duration_seconds", "histogram"),
                               ("taskledger_recovery_seconds", "histogram")]:
                assert types.get(name) == kind, (name, types.get(name))
            assert "w1" not in text, "a worker id in a label"
            build = [labels for (name, labels) in samples if name == "taskledger_build_info"]
            assert len(build) == 1 and dict(build[0])["version"], build
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=10)
        assert code == 0, open(out).read()
        assert not os.path.exists(web), "the HTTP socket was left behind"
    print("ok: %d metric families parsed" % len(families))


if __name__ == "__main__":
    main()
