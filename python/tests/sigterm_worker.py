"""A Worker in a process of its own, for test_worker_sigterm_drain.

Usage: sigterm_worker.py ADDRESS QUEUE. Tasks whose payload is {"mode": "quick"} return as
soon as the worker is asked to stop; {"mode": "stuck"} ones ignore it (and are released
when the grace is over). Prints `start TASK` as each handler starts and `returned` at the end.
"""

import sys
import time

import taskledger


def handle(lease: taskledger.Lease) -> str:
    mode = lease.payload["mode"]
    print("start", lease.task, flush=True)
    if mode == "quick":
        lease.stopping.wait(30)
        return "finished after the stop"
    time.sleep(30)  # a handler that ignores the stop: outlives the grace
    return "never"


def main() -> None:
    client = taskledger.Client(sys.argv[1])
    worker = taskledger.Worker(client, sys.argv[2], handle, concurrency=3, worker="sigterm-worker",
                               ttl="5s", grace="1500ms", poll=0.05)
    worker.run()
    print("returned completed=%d released=%d" % (worker.completed, worker.released), flush=True)


if __name__ == "__main__":
    main()
