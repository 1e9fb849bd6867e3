"""Snapshots of a tally mirror and comparisons between them.

Used by tests/convergence.sh, tests/crash.sh and tests/sync.sh:

  mirror.py snap DB OUT              snapshot DB into OUT (JSON)
  mirror.py compare REF OUT [--net-expiry] [--objects]
                                     same ledger, balances, events, usage
                                     (and, with --objects, the same mirrored
                                     objects, versions aside)
  mirror.py check DB OUT REF [...]   snap, compare, and check the cache
  mirror.py cache OUT                every cached balance = its ledger sum
  mirror.py oracle OUT EXPECTED      OUT against stripe_events.py's
                                     expected.json
  mirror.py cli TALLY DB CATALOG OUT the command line agrees with OUT
"""
import json, sqlite3, subprocess, sys
from collections import defaultdict

def snap(db, out):
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    s = {
        "ledger": sorted(c.execute("SELECT customer, key, kind, amount, effective_at, "
                                   "expires_at FROM ledger").fetchall()),
        "refs": dict(c.execute("SELECT key, ref FROM ledger WHERE kind = 'expire'").fetchall()),
        "balances": dict(c.execute("SELECT customer, balance FROM balances").fetchall()),
        "sums": dict(c.execute("SELECT customer, SUM(amount) FROM ledger "
                               "GROUP BY customer").fetchall()),
        "events": [r[0] for r in c.execute("SELECT id FROM events")],
        "usage": sorted(c.execute("SELECT identifier, customer, value FROM usage").fetchall()),
        "quarantine": c.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0],
        "quarantined": c.execute("SELECT reason FROM quarantine ORDER BY id LIMIT 5").fetchall(),
        "conflicts": c.execute("SELECT COUNT(*) FROM events WHERE state = 'conflict'").fetchone()[0],
        "objects": objects(c),
    }
    with open(out, "w") as f:
        json.dump(s, f)

# Columns that say when or how tally learnt something, not what it is.
VOLATILE = {"ver", "updated_at", "raw_hash", "refetch", "first_seen_at", "recorded_at"}
OBJECT_TABLES = ("customers", "subscriptions", "subscription_items", "invoices",
                 "invoice_lines", "prices", "checkout_sessions", "charges", "reversals",
                 "credit_grants")

def objects(c):
    """Every mirrored object, without its version columns."""
    out = {}
    for t in OBJECT_TABLES:
        cols = [r[1] for r in c.execute("PRAGMA table_info(%s)" % t) if r[1] not in VOLATILE]
        if not cols:
            continue
        rows = c.execute("SELECT %s FROM %s" % (", ".join(cols), t)).fetchall()
        out[t] = {"columns": cols, "rows": sorted(rows, key=repr)}
    return out

def load(p):
    with open(p) as f:
        return json.load(f)

def show(title, rows, limit=8):
    rows = sorted(rows, key=repr)
    for r in rows[:limit]:
        print("# %s %s" % (title, json.dumps(r, ensure_ascii=False)))
    if len(rows) > limit:
        print("# ... and %d more" % (len(rows) - limit))

def norm(s, net_expiry):
    """The ledger as a set; with net_expiry, expiries summed per grant."""
    if not net_expiry:
        return set(map(tuple, s["ledger"]))
    out, exp = set(), defaultdict(int)
    when = {}
    for r in s["ledger"]:
        if r[2] == "expire":
            g = s["refs"][r[1]]
            exp[(r[0], g)] += r[3]
            when[(r[0], g)] = r[4]
        else:
            out.add(tuple(r))
    for (cus, g), amount in exp.items():
        out.add((cus, "expire:" + g, "expire(net)", amount, when[(cus, g)], None))
    return out

def compare(a, b, net_expiry=False, with_objects=False):
    """Same ledger, same balances, same events and usage (and objects)."""
    A, B = load(a), load(b)
    bad = 0
    if with_objects:
        for t in OBJECT_TABLES:
            oa, ob = A["objects"].get(t), B["objects"].get(t)
            if oa is None or ob is None:
                continue
            ra = set(map(tuple, oa["rows"]))
            rb = set(map(tuple, ob["rows"]))
            if ra != rb:
                bad = 1
                print("# %s differ (%s): %d rows only in the reference, %d only here"
                      % (t, ", ".join(oa["columns"]), len(ra - rb), len(rb - ra)))
                show(t + " only in reference:", ra - rb, 4)
                show(t + " only here:        ", rb - ra, 4)
    la, lb = norm(A, net_expiry), norm(B, net_expiry)
    if la != lb:
        bad = 1
        print("# ledger differs: %d entries only in the reference, %d only here"
              % (len(la - lb), len(lb - la)))
        show("only in reference:", la - lb)
        show("only here:        ", lb - la)
    if A["balances"] != B["balances"]:
        bad = 1
        keys = set(A["balances"]) | set(B["balances"])
        show("balance (reference, here):",
             [(k, A["balances"].get(k), B["balances"].get(k)) for k in keys
              if A["balances"].get(k) != B["balances"].get(k)])
    if sorted(A["events"]) != sorted(B["events"]):
        bad = 1
        print("# events differ: %d vs %d" % (len(A["events"]), len(B["events"])))
    if A["usage"] != B["usage"]:
        bad = 1
        print("# usage rows differ: %d vs %d" % (len(A["usage"]), len(B["usage"])))
    return bad

def cache(a):
    """Every cached balance equals its ledger sum, and every customer with
    entries has one."""
    A = load(a)
    bad = [(k, A["balances"].get(k), A["sums"].get(k))
           for k in set(A["balances"]) | set(A["sums"])
           if A["balances"].get(k, 0) != A["sums"].get(k, 0) or k not in A["balances"]]
    show("cached balance != ledger sum (customer, cached, sum):", bad)
    return 1 if bad else 0

def oracle(a, exp):
    """Run (a) against what the history implies."""
    A, X = load(a), load(exp)
    bad = 0
    got = {r[1]: r for r in A["ledger"] if r[2] != "expire"}
    want = {e["key"]: e for e in X["entries"]}
    missing = [want[k] for k in want if k not in got]
    extra = [got[k] for k in got if k not in want]
    wrong = []
    for k in set(got) & set(want):
        g, w = got[k], want[k]
        gv = [g[0], g[2], g[3]] + ([g[4], g[5]] if w["effective_at"] is not None else [])
        wv = [w["customer"], w["kind"], w["amount"]] + (
            [w["effective_at"], w["expires_at"]] if w["effective_at"] is not None else [])
        if gv != wv:
            wrong.append({"key": k, "mirror": gv, "history": wv})
    for title, rows in (("missing:", missing), ("unexpected:", extra), ("wrong:", wrong)):
        if rows:
            bad = 1
            print("# %d ledger entries %s" % (len(rows), title))
            show(title, rows)
    # Every credit whose expiry has passed has been expired, and no other.
    now = X["now"]
    keys = {r[1] for r in A["ledger"]}
    due = [r[1] for r in A["ledger"] if r[3] > 0 and r[2] in ("grant", "topup")
           and r[5] is not None and r[5] <= now]
    notdue = [r[1] for r in A["ledger"] if r[3] > 0 and r[2] in ("grant", "topup")
              and (r[5] is None or r[5] > now)]
    unexpired = [k for k in due if "expire:" + k not in keys]
    early = [k for k in notdue if "expire:" + k in keys]
    if unexpired or early:
        bad = 1
        show("due but not expired:", unexpired)
        show("expired before its time:", early)
    if sorted(A["events"]) != sorted(X["event_ids"]):
        bad = 1
        print("# events: %d in the mirror, %d in the history"
              % (len(A["events"]), len(X["event_ids"])))
        show("missing event:", set(X["event_ids"]) - set(A["events"]))
    if sorted(u[0] for u in A["usage"]) != X["usage_ids"]:
        bad = 1
        print("# usage identifiers: %d in the mirror, %d in the history"
              % (len(A["usage"]), len(X["usage_ids"])))
    if A["quarantine"] or A["conflicts"]:
        bad = 1
        print("# a clean history left %d quarantined values and %d conflicts"
              % (A["quarantine"], A["conflicts"]))
        show("quarantined:", [r[0] for r in A["quarantined"]])
    return bad

def cli(tally, db, catalog, a):
    """`tally ledger` and `tally balance` say what the mirror holds."""
    A = load(a)
    def run(*args):
        p = subprocess.run([tally, "--db", db, "--catalog", catalog, "--json"] + list(args),
                           capture_output=True)
        if p.returncode != 0:
            raise SystemExit("# tally %s exited %d: %s" % (" ".join(args), p.returncode,
                                                          p.stderr.decode(errors="replace")))
        return json.loads(p.stdout)
    bad = 0
    customers = sorted(c["id"] for c in run("customers", "--limit", "1000000"))
    unlisted = set(A["sums"]) - set(customers)
    if unlisted:
        bad = 1
        show("tally customers does not list a customer with ledger entries:", unlisted)
    rows = []
    for cus in customers:
        for e in run("ledger", cus, "--limit", "1000000"):
            rows.append([cus, e["key"], e["kind"], e["amount"], e["effective_at"], e["expires_at"]])
        b = run("balance", cus)
        if (b["balance"], b["ledger_sum"], b["consistent"]) != (A["balances"].get(cus, 0),
                                                                A["sums"].get(cus, 0), True):
            bad = 1
            print("# tally balance %s: %s; mirror: %s / %s" % (cus, json.dumps(b),
                  A["balances"].get(cus), A["sums"].get(cus)))
    if sorted(rows) != sorted(A["ledger"]):
        bad = 1
        print("# tally ledger shows %d entries, the mirror holds %d" % (len(rows), len(A["ledger"])))
    return bad

def check(db, out, ref, *opts):
    """Snapshot db into out, compare it with ref, check its cache."""
    snap(db, out)
    bad = compare(ref, out, net_expiry="--net-expiry" in opts)
    return cache(out) or bad

if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "snap":
        snap(*args); sys.exit(0)
    if cmd == "check":
        sys.exit(check(*args))
    if cmd == "compare":
        sys.exit(compare(args[0], args[1], net_expiry="--net-expiry" in args,
                         with_objects="--objects" in args))
    sys.exit({"cache": cache, "oracle": oracle, "cli": cli}[cmd](*args))
