#!/usr/bin/python3
"""Calls per second of libvirt's C library (through python3-libvirt)
against a running daemon, for `cargo xtask bench`.

    /usr/bin/python3 c_client_rate.py URI [--seconds S] [--warmup S]
        [--rounds N] [--tasks N] [--domain NAME] [--daemon-pid PID]

The same measurements as libvirt-proto/benches/client_rate.rs, with the
same output: one line per round and measurement, `rate <procedure>
<threads> <calls> <seconds> <calls per second> <client CPU seconds>
<daemon CPU seconds>`.
Every thread shares one connection (and one domain object); the bindings
release the GIL around each C call.
"""

import argparse
import sys
import threading
import time

import libvirt


def cpu_seconds(pid):
    """CPU time (user and system) of a process from /proc/<pid>/stat, in
    seconds (clock ticks of 1/100 s); 0 when unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / 100.0
    except (OSError, IndexError, ValueError):
        return 0.0


def measure(call, threads, seconds):
    """Calls `call` from `threads` threads until `seconds` have passed;
    returns the calls made and the time they took (up to the last reply)."""
    counts = [0] * threads
    errors = []
    barrier = threading.Barrier(threads + 1)
    state = {}

    def work(i):
        barrier.wait()
        end = state["end"]
        n = 0
        clock = time.monotonic
        try:
            while clock() < end:
                call()
                n += 1
        except libvirt.libvirtError as e:
            errors.append(e)
        counts[i] = n

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    start = time.monotonic()
    state["end"] = start + seconds
    barrier.wait()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - start
    if errors:
        raise errors[0]
    return sum(counts), elapsed


def main():
    p = argparse.ArgumentParser()
    p.add_argument("uri")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--tasks", type=int, default=16)
    p.add_argument("--domain", default="test")
    p.add_argument("--daemon-pid", default="-")
    o = p.parse_args()

    # Keep libvirt's default error handler from printing to stderr.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open(o.uri)
    dom = conn.lookupByName(o.domain)
    procs = [
        ("connect_get_lib_version", conn.getLibVersion),
        ("domain_get_info", dom.info),
    ]
    shapes = [1, o.tasks]
    for _, call in procs:
        for threads in shapes:
            measure(call, threads, o.warmup)
    for _ in range(o.rounds):
        for name, call in procs:
            for threads in shapes:
                me0, d0 = cpu_seconds("self"), cpu_seconds(o.daemon_pid)
                calls, secs = measure(call, threads, o.seconds)
                me = cpu_seconds("self") - me0
                d = cpu_seconds(o.daemon_pid) - d0
                print(
                    f"rate {name} {threads} {calls} {secs:.6f} {calls / secs:.1f} {me:.2f} {d:.2f}",
                    flush=True,
                )
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
