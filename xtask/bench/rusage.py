#!/usr/bin/python3
"""Runs a command and reports what it cost, for `cargo xtask bench`.

    /usr/bin/python3 rusage.py COMMAND [ARGS...]

The command's standard output passes through; a last line `rusage <wall
seconds> <CPU seconds, user and system> <peak resident KiB>` follows. The
command is this process's only child, so the children's usage is its own.
"""

import resource
import subprocess
import sys
import time

start = time.monotonic()
done = subprocess.run(sys.argv[1:])
wall = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stdout.flush()
print(f"rusage {wall:.6f} {usage.ru_utime + usage.ru_stime:.6f} {usage.ru_maxrss}")
sys.exit(done.returncode)
