#!/usr/bin/env python3
"""Runs every example of docs/http.md exactly as printed, in order, against a real server
started as the page says (`taskledger serve --http unix:./http.sock` in an empty directory),
and compares each command's output with the page's. Times and `*_ns` values are masked:
they differ from run to run; everything else must match.

Usage: http_docs_test.py TASKLEDGER_BINARY DOCS_HTTP_MD
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

TIME = re.compile(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"')
NS = re.compile(r'("[a-z_]*_ns"):\d+')


def mask(text):
    return NS.sub(r'\1:N', TIME.sub('"TIME"', text))


def examples(markdown):
    """(command, expected output) pairs from the ```console blocks, in order."""
    pairs = []
    in_block = False
    for line in markdown.split("\n"):
        if line.startswith("```"):
            in_block = line.strip() == "```console"
            continue
        if not in_block:
            continue
        if line.startswith("$ "):
            pairs.append([line[2:], []])
        elif pairs:
            pairs[-1][1].append(line)
    return [(command, "\n".join(out) + "\n" if out else "") for command, out in pairs]


def main():
    binary, page = os.path.abspath(sys.argv[1]), sys.argv[2]
    with open(page, encoding="utf-8") as f:
        pairs = examples(f.read())
    if len(pairs) < 10:
        print(f"FAIL: only {len(pairs)} examples found in {page}")
        return 1
    with tempfile.TemporaryDirectory(prefix="taskledger-http-docs-") as work:
        env = dict(os.environ, PATH=os.path.dirname(binary) + os.pathsep + os.environ.get("PATH", ""))
        env.pop("TASKLEDGER_ADDR", None)
        server = subprocess.Popen([binary, "serve", "--http", "unix:./http.sock"], cwd=work, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists(os.path.join(work, "http.sock")):
                if server.poll() is not None or time.monotonic() > deadline:
                    print("FAIL: the server did not start:", server.stdout.read().decode(errors="replace"))
                    return 1
                time.sleep(0.02)
            failures = 0
            for command, expected in pairs:
                run = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, timeout=30)
                got = run.stdout.decode(errors="replace")
                if run.returncode != 0 or mask(got) != mask(expected):
                    failures += 1
                    print(f"FAIL: $ {command}\n  exit {run.returncode}, stderr: {run.stderr.decode(errors='replace')}"
                          f"\n  expected: {expected!r}\n  got:      {got!r}")
            print(f"{len(pairs) - failures} of {len(pairs)} examples of {page} ran as printed")
            return 1 if failures else 0
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    sys.exit(main())
