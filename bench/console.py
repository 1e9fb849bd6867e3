#!/usr/bin/env python3
"""Drive `tally console` headless and time it, for `make bench` (doc/bench.md).

    console.py --tally TALLY --db MIRROR [--catalog FILE] [--rows N] [--cols N]

Starts the console read-only on MIRROR in a pseudo-terminal of the given
size (default 40x120), with TALLY_CONSOLE_TIMINGS pointing at a scratch
file: the console appends "first-screen MS" once its first screen is drawn,
then "key MS" for each key it reads, from reading the key to the redrawn
screen (src/tui/tui.c).  Keys are sent one at a time, each only after the
previous one's line appeared, so every line belongs to one known key.  The
script walks the main views: the overview, the customers list (moves,
pages, end and home, sort, a filter), one customer, the global ledger,
events, deliveries and alerts, going to each with a `:` command.

Prints one JSON object: "first_screen" (ms), "keys": [[view, key, ms], ...]
(ms null when the key drew nothing within 10 s), "max_key" (the slowest
key, ms) with its view and key, and "vmhwm_kb" / "vmrss_kb": the console's
peak and current resident memory (/proc/PID/status) after the walk.
Exit status 0, or 1 when the console could not be driven.
"""
import argparse
import fcntl
import json
import os
import pty
import select
import signal
import struct
import sys
import tempfile
import termios
import threading
import time

# (view the key acts in, label, bytes).  ":name\r" opens a view; each of its
# characters is a key of its own (the prompt redraws), recorded with the view
# being left, except Enter, recorded with the view it opens.
def script():
    keys = []

    def cmd(name, view):
        for ch in ":" + name:
            keys.append(("prompt", ch, ch.encode()))
        keys.append((view, "Enter (:%s)" % name, b"\r"))

    def moves(view):
        keys.extend([(view, "j", b"j"), (view, "j", b"j"), (view, "k", b"k"),
                     (view, "PgDn", b"\x1b[6~"), (view, "PgDn", b"\x1b[6~"),
                     (view, "PgUp", b"\x1b[5~"), (view, "G (end)", b"G"),
                     (view, "g (home)", b"g")])

    keys.append(("overview", "j", b"j"))
    cmd("customers", "customers")
    moves("customers")
    keys.extend([("customers", "s (sort)", b"s"), ("customers", "S (reverse)", b"S"),
                 ("customers", "g (home)", b"g")])
    keys.append(("customers", "/ (filter)", b"/"))
    for ch in "Acme":
        keys.append(("customers", "filter " + ch, ch.encode()))
    keys.append(("customers", "Enter (filter)", b"\r"))
    keys.append(("customers", "Esc (clear filter)", b"\x1b"))
    keys.append(("customer", "Enter (open)", b"\r"))
    keys.extend([("customer", "j", b"j"), ("customer", "PgDn", b"\x1b[6~"),
                 ("customers", "Esc (back)", b"\x1b")])
    for name in ("ledger", "events", "deliveries", "alerts"):
        cmd(name, name)
        moves(name)
        if name in ("ledger", "events"):
            keys.append((name, "Enter (open)", b"\r"))
            keys.append((name, "Esc (back)", b"\x1b"))
    cmd("overview", "overview")
    return keys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tally", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--catalog")
    ap.add_argument("--rows", type=int, default=40)
    ap.add_argument("--cols", type=int, default=120)
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="tally-bench-console.")
    timings = os.path.join(work, "timings")
    env = dict(os.environ)
    for k in ("STRIPE_API_KEY", "STRIPE_API_KEY_FILE", "STRIPE_WEBHOOK_SECRET", "TALLY_CONFIG",
              "NO_COLOR"):
        env.pop(k, None)
    env.update({"TALLY_CONSOLE_TIMINGS": timings, "TERM": "xterm-256color", "HOME": work,
                "XDG_CONFIG_HOME": work, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
                "TZ": "UTC", "ESCDELAY": "25"})
    argv = [a.tally, "--read-only", "--db", a.db]
    if a.catalog:
        argv += ["--catalog", a.catalog]
    argv.append("console")

    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", a.rows, a.cols, 0, 0))
        os.execve(a.tally, argv, env)
        os._exit(127)

    stop = threading.Event()

    def drain():
        while not stop.is_set():
            try:
                r, _, _ = select.select([fd], [], [], 0.2)
                if r and not os.read(fd, 65536):
                    return
            except OSError:
                return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()

    def lines():
        try:
            with open(timings) as f:
                return [l.split() for l in f if l.strip()]
        except OSError:
            return []

    def wait_lines(n, limit):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            got = lines()
            if len(got) >= n:
                return got
            if os.waitpid(pid, os.WNOHANG)[0] != 0:
                return None
            time.sleep(0.005)
        return lines()

    result = {"first_screen": None, "keys": [], "max_key": None}
    got = wait_lines(1, 60)
    ok = bool(got) and got[0][0] == "first-screen"
    if ok:
        result["first_screen"] = float(got[0][1])
        seen = len(got)
        for view, label, data in script():
            os.write(fd, data)
            got = wait_lines(seen + 1, 10)
            if got is None:
                ok = False
                break
            ms = float(got[seen][1]) if len(got) > seen else None
            seen = len(got)
            result["keys"].append([view, label, ms])
            # Esc is also the start of an escape sequence: let the console's
            # ESCDELAY pass before the next key.
            if data == b"\x1b":
                time.sleep(0.06)
        timed = [k for k in result["keys"] if k[2] is not None]
        if timed:
            worst = max(timed, key=lambda k: k[2])
            result["max_key"] = {"view": worst[0], "key": worst[1], "ms": worst[2]}
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        result["vmhwm_kb"] = int(line.split()[1])
                    elif line.startswith("VmRSS:"):
                        result["vmrss_kb"] = int(line.split()[1])
        except OSError:
            pass
    try:
        os.write(fd, b"Q")
    except OSError:
        pass
    exited = False
    deadline = time.monotonic() + 5
    while not exited and time.monotonic() < deadline:
        exited = os.waitpid(pid, os.WNOHANG)[0] != 0
        time.sleep(0.05)
    if not exited:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    stop.set()
    try:
        os.remove(timings)
        os.rmdir(work)
    except OSError:
        pass
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
