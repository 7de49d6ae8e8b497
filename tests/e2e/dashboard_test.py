#!/usr/bin/env python3
"""The live dashboard (GET /) in a real headless Chromium, against a real server.

Scripts, with the CLI through the server's RPC socket: a running task (60 s lease), a
lapsed one (1 s lease, left to lapse), and a zombie (its lease lapses, a second worker
takes it over, the first one's heartbeat is refused: exit 3 and a `rejected` event).
Then drives Debian's /usr/bin/chromium over the DevTools protocol on a pipe
(--remote-debugging-pipe: commands on fd 3, replies on fd 4, NUL-terminated JSON) and
waits for the page to show the queue counts, a lease countdown that moves, the lapsed
task and the rejection naming its worker; creates one more task and waits for the page
to show it without a reload (the event stream); opens a task panel and waits for its
explain. Saves a screenshot as dashboard.png in the working directory.

Standard library only. TASKLEDGER_BIN names the binary (default build/tools/taskledger).
Exits 77 (skipped) when /usr/bin/chromium is missing.
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

CHROMIUM = "/usr/bin/chromium"
START = time.monotonic()


def log(*args):
    print("[%5.1fs]" % (time.monotonic() - START), *args, flush=True)


def wait_for(condition, limit, what, step=0.05):
    """Polls `condition` until it returns a true value (returned), for at most `limit` s."""
    deadline = time.monotonic() + limit
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(step)  # polling a condition, bounded by `limit`
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class DevTools:
    """The Chrome DevTools protocol over --remote-debugging-pipe."""

    def __init__(self, user_data_dir):
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # The child's ends go to fds 3 (it reads) and 4 (it writes); move them out of the way
        # first, so that dup2 onto 3 and 4 cannot clobber one with the other.
        import fcntl
        child_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def preexec():
            os.dup2(child_r, 3)
            os.dup2(child_w, 4)

        self.stderr = open(os.path.join(user_data_dir, "chromium.log"), "wb")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + user_data_dir,
             "--remote-debugging-pipe", "--no-first-run", "--no-default-browser-check", "--hide-scrollbars", "--window-size=1400,1200",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.stderr, stderr=self.stderr, preexec_fn=preexec, pass_fds=(3, 4))
        os.close(child_r)
        os.close(child_w)
        self.out = os.fdopen(to_chrome_w, "wb", buffering=0)
        self.inp = os.fdopen(from_chrome_r, "rb", buffering=0)
        self.next_id = 0
        self.replies = {}
        self.cond = threading.Condition()
        self.closed = False
        self.session = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        while True:
            chunk = self.inp.read(65536)
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self.cond:
                        self.replies[message["id"]] = message
                        self.cond.notify_all()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def call(self, method, params=None, session=True, timeout=20):
        with self.cond:
            self.next_id += 1
            mid = self.next_id
        message = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        self.out.write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self.cond:
            while mid not in self.replies:
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    raise AssertionError("no reply to %s (chromium %s)" % (method, "exited" if self.closed else "timed out"))
                self.cond.wait(left)
            reply = self.replies.pop(mid)
        if "error" in reply:
            raise AssertionError("%s: %s" % (method, reply["error"]))
        return reply.get("result", {})

    def open_page(self, url):
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise AssertionError("page: %s" % json.dumps(result["exceptionDetails"])[:500])
        return result["result"].get("value")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close", session=False, timeout=5)
        except AssertionError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


# What the page shows, read in one evaluation.
PROBE = r"""(() => {
  const q = (s) => document.querySelector(s);
  const text = (s) => { const n = q(s); return n ? n.textContent.trim() : null; };
  return {
    live: q('#live') ? q('#live').className : null,
    etl_running: text('#queues tr[data-queue="etl"] td[data-status="running"]'),
    etl_ready: text('#queues tr[data-queue="etl"] td[data-status="ready"]'),
    misc_ready: text('#queues tr[data-queue="misc"] td[data-status="ready"]'),
    countdown: text('tr.lease[data-task="run1"] td.countdown[data-deadline-ms]'),
    lapsed: [...document.querySelectorAll('tr.lapsed-task')].map(r => r.getAttribute('data-task')),
    rejection_workers: [...document.querySelectorAll('tr.rejection td.worker')].map(td => td.textContent),
    tasks: [...document.querySelectorAll('#tasks tr[data-task]')].map(r => r.getAttribute('data-task')),
  };
})()"""


def main():
    binary = os.environ.get("TASKLEDGER_BIN", "build/tools/taskledger")
    if not os.access(CHROMIUM, os.X_OK):
        print("SKIP: %s is missing" % CHROMIUM)
        return 77
    artifact = os.path.join(os.getcwd(), "dashboard.png")
    with tempfile.TemporaryDirectory(prefix="taskledger-dashboard") as root:
        rpc, out = root + "/rpc.sock", root + "/server.out"
        with open(out, "w") as server_log:
            server = subprocess.Popen([binary, "--db", root + "/ledger.db", "serve", "--listen", "unix:" + rpc,
                                       "--http", "tcp:127.0.0.1:0"], stdout=server_log, stderr=subprocess.STDOUT)
        browser = None
        try:
            wait_for(lambda: server.poll() is not None or "listening on" in open(out).read(), 20, "the server")
            assert server.poll() is None, open(out).read()
            port = re.search(r"http on tcp:127\.0\.0\.1:(\d+)", open(out).read())
            assert port, "no `http on tcp:...` line in: " + open(out).read()
            url = os.environ.get("DASHBOARD_TEST_URL", "http://127.0.0.1:%s/" % port.group(1))
            log("server up,", url)

            def cli(*args, code=0):
                done = subprocess.run([binary, "--connect", "unix:" + rpc, *args], capture_output=True, text=True)
                assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
                return done.stdout

            def claim(task, worker, ttl):
                return json.loads(cli("--json", "claim", task, "--worker", worker, "--ttl", ttl))["token"]

            for task in ("run1", "lapse1", "zombie1", "wait1"):
                cli("create", task, "--title", "dashboard test " + task, "--queue", "etl", "--backoff", "10ms")
            cli("create", "misc1", "--title", "another queue", "--queue", "misc")
            claim("run1", "w-run", "60s")
            claim("lapse1", "w-lapse", "1s")
            zombie_token = claim("zombie1", "w-zombie", "1s")

            def status(task):
                return json.loads(cli("--json", "show", task))["status"]

            # Lapsed, then claimable again once the 10 ms retry backoff is over.
            wait_for(lambda: status("lapse1") == "ready" and status("zombie1") == "ready", 10,
                     "the 1 s leases to lapse", step=0.1)
            claim("zombie1", "w-takeover", "60s")
            cli("heartbeat", "zombie1", "--worker", "w-zombie", "--token", str(zombie_token), code=3)
            log("ledger scripted: run1 running, lapse1 lapsed, zombie1 taken over and its zombie refused")

            browser = DevTools(root)
            browser.open_page(url)
            log("chromium started, page opened")

            def probe():
                return browser.evaluate(PROBE)

            wait_for(lambda: (lambda p: p["etl_running"] == "2" and p["misc_ready"] == "1" and p["countdown"]
                              and "lapse1" in p["lapsed"] and "w-zombie" in p["rejection_workers"])(probe()),
                     20, "the queue counts, the lease, the lapsed task and the rejection")
            first = probe()["countdown"]
            # The countdown is client-side, ticking every second; a loaded machine may delay
            # a tick, so it gets a few to move (bounded), not exactly one.
            second = wait_for(lambda: (lambda c: c if c and c != first else None)(probe()["countdown"]), 5,
                              "the countdown to move from %r" % first)
            log("countdown %s -> %s; lapsed and rejection rows shown" % (first, second))
            wait_for(lambda: probe()["live"] == "on", 10, "#live.on (the event stream)")

            # Live update: a task created now shows up without a reload.
            browser.evaluate("window.__noReload = 1")
            ready_before = int(probe()["etl_ready"])
            cli("create", "live1", "--title", "created while watching", "--queue", "etl")
            wait_for(lambda: (lambda p: "live1" in p["tasks"] and p["etl_ready"] == str(ready_before + 1))(probe()), 10,
                     "the new task on the page")
            assert browser.evaluate("window.__noReload") == 1, "the page reloaded"
            log("live update seen")

            # The task panel: explain and timeline.
            browser.evaluate("document.querySelector('#tasks tr[data-task=\"zombie1\"]').click()")
            explained = wait_for(lambda: browser.evaluate(
                "(() => { const x = document.querySelector('#task-explain');"
                " return x && x.getAttribute('data-task') === 'zombie1' &&"
                " !document.querySelector('#task-panel').hidden &&"
                " x.querySelectorAll('tr.attempt').length; })()"), 10, "the explain of zombie1")
            assert explained >= 2, "zombie1 had two attempts, explain shows %r" % explained
            timeline = browser.evaluate("document.querySelector('#task-timeline').getAttribute('src')")
            assert timeline and "task=zombie1" in timeline, timeline
            wait_for(lambda: browser.evaluate(
                "(() => { try { const d = document.querySelector('#task-timeline').contentDocument;"
                " return d && d.readyState === 'complete' && d.body && d.body.innerHTML.length > 0; }"
                " catch (e) { return false; } })()"), 10, "the timeline frame")
            log("task panel: explain shows %d attempts, timeline loaded" % explained)

            # Self-contained: everything the page loaded came from the listener itself.
            foreign = browser.evaluate(
                "performance.getEntriesByType('resource').map(e => e.name)"
                ".filter(n => !n.startsWith(location.origin + '/'))")
            assert foreign == [], "the page loaded from elsewhere: %r" % foreign

            browser.screenshot(artifact)
            log("screenshot: " + artifact)
            print("PASS: dashboard_test in %.1f s" % (time.monotonic() - START))
            return 0
        except BaseException:
            print("server output:\n" + open(out).read(), file=sys.stderr)
            if browser is not None:
                try:
                    browser.screenshot(artifact)
                    print("screenshot of the failure: " + artifact, file=sys.stderr)
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass
            raise
        finally:
            if browser is not None:
                browser.close()
            server.terminate()
            server.wait(timeout=20)


if __name__ == "__main__":
    sys.exit(main())
