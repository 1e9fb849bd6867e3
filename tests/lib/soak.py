#!/usr/bin/env python3
"""The soak's two helpers (tests/soak.sh).

  soak.py feed GEN FULL LIVE STRIPE BASE SECONDS SEED
      Over SECONDS, in ticks of about half a second: appends the next
      slice of GEN/webhooks.log and GEN/usage.log to LIVE/ (slices end at
      any byte, so a value is often half written for a while); writes
      STRIPE/state.json with the final objects of FULL/state.json and the
      events created up to the moment the logs have reached, reloads the
      fake Stripe at BASE, and gives it the tick's fault (429 storms, 500,
      503, slow answers, truncated bodies, dropped connections, lost
      responses, in turn).  At the end everything is written, the fake
      serves the whole state without faults, and LIVE/done exists.

  soak.py check DB SEEN
      The invariants, on a read-only connection to the mirror DB while
      writers run: every cached balance is its ledger sum; ledger keys are
      unique; no business source has two effects of one kind (a webhook
      applied twice, a usage line consumed twice); no entry is reversed
      twice; no credit expires more than it granted; and every entry seen
      by an earlier check (kept in SEEN) is still there, unchanged (nothing
      lost, nothing edited).  Prints what is wrong and exits 1.
"""
import json, os, random, sqlite3, sys, time, urllib.request

FAULTS = [
    [{"kind": "429", "count": 6, "retry_after": 0}],
    [{"kind": "500", "method": "GET", "count": 3}],
    [{"kind": "503", "count": 3}],
    [{"kind": "slow", "delay_ms": 300, "count": 4}],
    [{"kind": "truncate", "method": "GET", "count": 2}],
    [{"kind": "drop", "count": 2}],
    [{"kind": "lost_response", "method": "GET", "count": 2}],
    [],
]


def post(base, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


def write_state(full, stripe, cutoff):
    st = dict(full)
    st["events"] = [e for e in full["events"] if e["created"] <= cutoff]
    tmp = os.path.join(stripe, "state.json.tmp")
    with open(tmp, "w") as f:
        json.dump(st, f)
    os.replace(tmp, os.path.join(stripe, "state.json"))


def last_time(data):
    """The newest received_at or timestamp in the complete lines of data."""
    t = None
    for line in data.split(b"\n")[:-1]:
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if isinstance(v, dict):
            t = v.get("received_at", v.get("timestamp", v.get("created", t)))
    return t


def feed(gen, full_dir, live, stripe, base, seconds, seed):
    rnd = random.Random(int(seed))
    with open(os.path.join(full_dir, "state.json")) as f:
        full = json.load(f)
    logs = {}
    for name in ("webhooks.log", "usage.log"):
        with open(os.path.join(gen, name), "rb") as f:
            logs[name] = f.read()
    pos = {name: 0 for name in logs}
    ticks = max(4, int(float(seconds) / 0.5))
    cutoff = min(e["created"] for e in full["events"]) - 1
    for tick in range(ticks):
        for name, data in logs.items():
            # An even share of what is left, cut at a random byte.
            left = len(data) - pos[name]
            share = left if tick == ticks - 1 else int(left / (ticks - tick) * rnd.uniform(0.5, 1.5))
            chunk = data[pos[name]:pos[name] + share]
            with open(os.path.join(live, name), "ab") as f:
                f.write(chunk)
            pos[name] += len(chunk)
            t = last_time(data[:pos[name]])
            if name == "webhooks.log" and t is not None:
                cutoff = max(cutoff, t)
        last = tick == ticks - 1
        write_state(full, stripe, max(e["created"] for e in full["events"]) if last else cutoff)
        post(base, "/_fake/reload", {})
        post(base, "/_fake/faults", [] if last else FAULTS[tick % len(FAULTS)])
        time.sleep(0.5)
    open(os.path.join(live, "done"), "w").close()
    return 0


def check(db, seen_path):
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    c.execute("BEGIN")          # one snapshot for every query
    bad = []

    def q(sql):
        return c.execute(sql).fetchall()

    for cus, bal, s in q("SELECT b.customer, b.balance, COALESCE(SUM(l.amount), 0) FROM balances b "
                         "LEFT JOIN ledger l ON l.customer = b.customer GROUP BY b.customer "
                         "HAVING b.balance <> COALESCE(SUM(l.amount), 0)"):
        bad.append("cache: %s has balance %d, ledger sum %d" % (cus, bal, s))
    for cus, s in q("SELECT customer, SUM(amount) FROM ledger WHERE customer NOT IN "
                    "(SELECT customer FROM balances) GROUP BY customer HAVING SUM(amount) <> 0"):
        bad.append("cache: %s has no balance row, ledger sum %d" % (cus, s))
    for (k,) in q("SELECT key FROM ledger GROUP BY key HAVING COUNT(*) > 1"):
        bad.append("key twice: %s" % k)
    for kind, st, sid, n in q("SELECT kind, source_type, source_id, COUNT(*) FROM ledger "
                              "WHERE kind IN ('grant', 'topup', 'consume', 'clawback') "
                              "GROUP BY kind, source_type, source_id HAVING COUNT(*) > 1"):
        bad.append("%s of %s %s applied %d times" % (kind, st, sid, n))
    for ref, n in q("SELECT ref, COUNT(*) FROM ledger WHERE kind = 'reverse' GROUP BY ref "
                    "HAVING COUNT(*) > 1"):
        bad.append("%s reversed %d times" % (ref, n))
    for key, amount, expired in q("SELECT g.key, g.amount, SUM(x.amount) FROM ledger g "
                                  "JOIN ledger x ON x.kind = 'expire' AND x.ref = g.key "
                                  "GROUP BY g.key HAVING SUM(x.amount) < -g.amount "
                                  "OR SUM(x.amount) > 0"):
        bad.append("%s granted %d but expired %d" % (key, amount, -expired))

    now = {k: [cus, amount, kind] for k, cus, amount, kind in
           q("SELECT key, customer, amount, kind FROM ledger")}
    c.rollback()
    seen = {}
    if os.path.exists(seen_path):
        with open(seen_path) as f:
            seen = json.load(f)
    for k, v in seen.items():
        if k not in now:
            bad.append("entry %s (%s %d) seen before is gone" % (k, v[0], v[1]))
        elif now[k] != v:
            bad.append("entry %s changed: %r, now %r" % (k, v, now[k]))
    with open(seen_path + ".tmp", "w") as f:
        json.dump(now, f)
    os.replace(seen_path + ".tmp", seen_path)
    for b in bad[:20]:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    sys.exit({"feed": feed, "check": check}[cmd](*args))
