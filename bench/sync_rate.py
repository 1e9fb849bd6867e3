#!/usr/bin/env python3
"""The request rate a sync held, from the fake Stripe's request log, for
`make bench` (doc/bench.md).

    sync_rate.py REQUESTS.jsonl RATE

REQUESTS.jsonl is what tests/lib/fake_stripe.py wrote (one line per API
request, "t" = the wall time it was received).  Prints one JSON object:
"requests", "seconds" (first to last), "achieved" (requests a second over
that span: (n - 1) / seconds), "max_window" (the most requests received in
any one-second window, sliding) and "configured" (RATE).
"""
import bisect
import json
import sys


def main(argv):
    if len(argv) != 3:
        print("usage: sync_rate.py REQUESTS.jsonl RATE", file=sys.stderr)
        return 2
    rate = float(argv[2])
    times = []
    with open(argv[1], encoding="utf-8") as f:
        for line in f:
            if line.strip():
                times.append(float(json.loads(line)["t"]))
    times.sort()
    r = {"requests": len(times), "configured": rate, "seconds": None, "achieved": None,
         "max_window": 0}
    if len(times) >= 2:
        span = times[-1] - times[0]
        r["seconds"] = round(span, 3)
        r["achieved"] = round((len(times) - 1) / span, 3) if span > 0 else None
    for i, t in enumerate(times):
        # Requests in [t, t + 1): a window starting at each request is the
        # worst case of all windows.
        r["max_window"] = max(r["max_window"], bisect.bisect_left(times, t + 1.0) - i)
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
