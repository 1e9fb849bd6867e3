#!/usr/bin/env python3
"""Run a command and say what it cost, for `make bench` (doc/bench.md).

    measure.py [--out FILE] [--stdout FILE] -- COMMAND [ARGS...]

Prints (or writes to FILE) one JSON object: "status" (the exit status),
"wall" seconds (monotonic clock), "user" and "sys" CPU seconds and
"maxrss_kb" (getrusage of the child), and "written_mb": the bytes the
command caused to be written to storage (/proc/PID/io write_bytes, sampled
every 0.2 s; the last sample before it exited; null where /proc lacks it).
The command's standard output goes to --stdout FILE (default: discarded);
its standard error is passed through.
"""
import json
import os
import resource
import subprocess
import sys
import time


def main(argv):
    out = stdout = None
    while argv and argv[0] != "--":
        if argv[0] == "--out" and len(argv) > 1:
            out = argv[1]
            argv = argv[2:]
        elif argv[0] == "--stdout" and len(argv) > 1:
            stdout = argv[1]
            argv = argv[2:]
        else:
            print("usage: measure.py [--out FILE] [--stdout FILE] -- COMMAND...", file=sys.stderr)
            return 2
    cmd = argv[1:]
    if not cmd:
        print("usage: measure.py [--out FILE] [--stdout FILE] -- COMMAND...", file=sys.stderr)
        return 2
    sink = open(stdout, "wb") if stdout else subprocess.DEVNULL
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=sink)
    written = None
    while True:
        try:
            p.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            pass
        try:
            with open("/proc/%d/io" % p.pid) as f:
                for line in f:
                    if line.startswith("write_bytes:"):
                        written = int(line.split()[1])
        except OSError:
            pass
    wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    if stdout:
        sink.close()
    r = {"status": p.returncode, "wall": round(wall, 3), "user": round(ru.ru_utime, 3),
         "sys": round(ru.ru_stime, 3), "maxrss_kb": ru.ru_maxrss,
         "written_mb": None if written is None else round(written / 1e6, 1)}
    text = json.dumps(r)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
