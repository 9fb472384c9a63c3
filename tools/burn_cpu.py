"""Keep every core busy while the tests run, so a test that depends on the machine's speed
fails in CI rather than on a user's loaded laptop.

    python tools/burn_cpu.py [--processes N] [--max-seconds S] [--parent PID]

Starts N busy processes (default: one per core) at normal priority and keeps them until it
gets SIGTERM or SIGINT, until ``--max-seconds`` have passed (default 1800), or until the
``--parent`` process is gone: the burner never outlives the nox session that started it, even
if that session is killed. Each busy process also watches its own parent, so killing the
burner with SIGKILL still stops them within a second. noxfile.py starts it around the test
sessions when ``CI`` is set (see ``cpu_load`` there and docs/testing.md).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
import time


def burn(deadline: float, burner: int) -> None:
    """Spin until ``deadline`` (monotonic) or until the burner process ``burner`` is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the burner stops us; Ctrl-C is for it
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the burner's handler, inherited
    while time.monotonic() < deadline and os.getppid() == burner:
        for _ in range(200_000):  # a few ms of pure CPU between checks
            pass


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:  # no /proc (macOS): kill(0) has to do
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    parser.add_argument("--parent", type=int, default=None,
                        help="stop when this process is gone (default: the one that started "
                             "the burner)")
    args = parser.parse_args(argv)
    parent = args.parent if args.parent is not None else os.getppid()
    deadline = time.monotonic() + args.max_seconds

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    context = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    workers = [context.Process(target=burn, args=(deadline, os.getpid()), daemon=True)
               for _ in range(max(1, args.processes))]
    for worker in workers:
        worker.start()
    print(f"burn_cpu: {len(workers)} busy processes for at most {args.max_seconds:g} s "
          f"(pid {os.getpid()}, watching {parent})", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        started_by = os.getppid()
        while (not stopping and time.monotonic() < deadline and alive(parent)
               and os.getppid() == started_by):
            time.sleep(0.2)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join(5)
    print(f"burn_cpu: stopped after {time.monotonic() - started:.0f} s", file=sys.stderr,
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
