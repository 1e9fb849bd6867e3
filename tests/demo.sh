#!/bin/bash
# The demo mirror (TAP): `tally demo` is a function of its seed (the same
# seed twice gives the same logs, state and mirror; another seed another),
# its sizes are about what was asked, its mirror is consistent (every cached
# balance is its ledger sum, except the one planted to differ; keys are
# unique), re-reading its logs changes nothing, the fake Stripe server
# serves its state.json, every SPEC 7 drift rule has an open alert, a
# customer's name carries a terminal escape sequence, its configuration
# reads the mirror back, and it refuses to replace what is not a demo.
#
# Environment: TALLY, SRCDIR, PYTHON3 (set by make check); KEEP=1 keeps the
# work directory.
set -u
. "${SRCDIR:-.}/tests/lib/tap.sh"
tap_setup demo
N=40
M=3

# A mirror's content: every table, rows sorted, as JSON lines.
cat > "$tmp/dump.py" <<'PY'
import json, sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
only = sys.argv[2].split(",") if len(sys.argv) > 2 else None
for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                      "AND name NOT LIKE 'sqlite_%' ORDER BY name"):
    if only and t not in only:
        continue
    rows = sorted(json.dumps(r, ensure_ascii=False, default=repr) for r in c.execute("SELECT * FROM %s" % t))
    print("== %s %d" % (t, len(rows)))
    for r in rows:
        print(r)
PY
dump() { "$PYTHON3" "$tmp/dump.py" "$@"; }
demo() { "$TALLY" demo "$@"; }

echo "1..22"

# --- the same seed twice, another seed -----------------------------------------
demo --seed 7 --customers $N --months $M --out "$tmp/a/demo.db" --json >"$tmp/a.json" 2>"$tmp/err"
report "tally demo --out builds a demo mirror" $? "$tmp/err"
A=$tmp/a/demo.d
(cd "$A" && sha256sum webhooks.log usage.log state.json catalog.json plants.json) >"$tmp/a.sums"
dump "$tmp/a/demo.db" >"$tmp/a.dump"

demo --seed 7 --customers $N --months $M --out "$tmp/a/demo.db" --json >"$tmp/a2.json" 2>"$tmp/err"
rc=$?
(cd "$A" && sha256sum webhooks.log usage.log state.json catalog.json plants.json) >"$tmp/a2.sums"
dump "$tmp/a/demo.db" >"$tmp/a2.dump"
[ $rc = 0 ] && cmp -s "$tmp/a.sums" "$tmp/a2.sums"
report "the same seed writes the same logs, state, catalog and plants" $? "$tmp/err"
diff "$tmp/a.dump" "$tmp/a2.dump" >"$tmp/diff" 2>&1
report "the same seed builds the same mirror, table by table" $? "$tmp/diff"

demo --seed 8 --customers $N --months $M --out "$tmp/b/demo.db" --json >"$tmp/b.json" 2>"$tmp/err"
rc=$?
(cd "$tmp/b/demo.d" && sha256sum webhooks.log usage.log state.json) >"$tmp/b.sums"
[ $rc = 0 ] && ! grep -qFf <(cut -d' ' -f1 "$tmp/b.sums") "$tmp/a.sums" &&
	! cmp -s <(dump "$tmp/a/demo.db" ledger,customers 2>/dev/null) \
		<(dump "$tmp/b/demo.db" ledger,customers 2>/dev/null)
report "another seed gives other logs, state and mirror" $? "$tmp/err"

# --- sizes, the summary, invariants -----------------------------------------------
"$PYTHON3" - "$tmp/a.json" "$tmp/a/demo.db" $N $M >"$tmp/out" 2>&1 <<'PY'
import json, sqlite3, sys
s = json.load(open(sys.argv[1]))
c = sqlite3.connect(sys.argv[2])
n, m = int(sys.argv[3]), int(sys.argv[4])
one = lambda q: c.execute(q).fetchone()[0]
lines = lambda f: sum(1 for _ in open(f, "rb"))
files = s["files"]
checks = {
    "customers in the mirror": one("SELECT COUNT(*) FROM customers WHERE placeholder = 0") == n,
    "usage lines as the summary says": lines(files["usage.log"]) == s["counts"]["usage_lines"],
    "about 10 to 30 usage lines a customer-month":
        5 * n * m <= s["counts"]["usage_lines"] <= 35 * n * m,
    "events as the summary says": one("SELECT COUNT(*) FROM events") <= s["counts"]["events"],
    "ledger entries as the summary says": one("SELECT COUNT(*) FROM ledger") == s["counts"]["ledger_entries"],
    "several plans": one("SELECT COUNT(DISTINCT price) FROM subscription_items") >= 4,
    "paid invoices of several months": one("SELECT COUNT(DISTINCT strftime('%m', paid_at, 'unixepoch')) "
                                            "FROM invoices WHERE status = 'paid'") >= m,
    "top-ups": one("SELECT COUNT(*) FROM ledger WHERE kind = 'topup'") > 0,
    "refunds and disputes": one("SELECT COUNT(DISTINCT kind) FROM reversals") == 2,
    "failed deliveries": one("SELECT COUNT(*) FROM deliveries WHERE status = 'failed'") > 0,
    "duplicated deliveries": one("SELECT COUNT(*) FROM events WHERE delivery_count > 1") > 0,
    "out-of-order events": one("SELECT COUNT(*) FROM events WHERE state = 'superseded'") > 0,
    "both API versions": one("SELECT COUNT(DISTINCT api_version) FROM events") == 2,
    "repeated usage": one("SELECT COUNT(*) FROM usage WHERE repeats > 0") > 0,
    "the demo's now in meta": one("SELECT value FROM meta WHERE key = 'demo.now'") == str(s["now"]),
}
bad = [k for k, v in checks.items() if not v]
print("\n".join("failed: " + k for k in bad))
sys.exit(1 if bad else 0)
PY
report "sizes and contents are about what was asked, and the summary says so" $? "$tmp/out"

"$PYTHON3" - "$A/plants.json" "$tmp/a/demo.db" >"$tmp/out" 2>&1 <<'PY'
import json, sqlite3, sys
plants = json.load(open(sys.argv[1]))["plants"]
c = sqlite3.connect(sys.argv[2])
tampered = {p["customer"] for p in plants if p["rule"] == "balance-mismatch"}
off = c.execute("SELECT b.customer, b.balance, COALESCE(SUM(l.amount), 0) FROM balances AS b "
                "LEFT JOIN ledger AS l ON l.customer = b.customer GROUP BY b.customer "
                "HAVING b.balance <> COALESCE(SUM(l.amount), 0)").fetchall()
print("differ:", off)
ok = {r[0] for r in off} == tampered and all(r[1] - r[2] == 2500 for r in off)
orphans = c.execute("SELECT COUNT(DISTINCT customer) FROM ledger WHERE customer NOT IN "
                    "(SELECT customer FROM balances)").fetchone()[0]
sys.exit(0 if ok and orphans == 0 and len(tampered) == 1 else 1)
PY
report "every cached balance is its ledger sum, but the one planted 2500 off" $? "$tmp/out"
[ "$("$PYTHON3" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("SELECT COUNT(*) - COUNT(DISTINCT key) FROM ledger").fetchone()[0])' "$tmp/a/demo.db")" = 0 ]
report "every ledger key is unique" $?

# --- drift: every rule, and the plants -------------------------------------------
"$PYTHON3" - "$tmp/a/demo.db" "$A/plants.json" >"$tmp/out" 2>&1 <<'PY'
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
rules = ["grant-missing", "grant-duplicate", "usage-conflict", "subscription-stale",
         "access-after-expiry", "usage-after-cancel", "payment-failed-access",
         "refund-without-clawback", "balance-mismatch", "negative-balance", "event-out-of-order",
         "webhook-failed", "signature-invalid", "sync-stale"]
open_ = {r for (r,) in c.execute("SELECT DISTINCT rule FROM alerts WHERE state = 'open'")}
missing = [r for r in rules if r not in open_]
planted = {p["rule"] for p in json.load(open(sys.argv[2]))["plants"]}
print("no open alert:", missing, "not planted:", [r for r in rules if r not in planted])
sys.exit(1 if missing or any(r not in planted for r in rules) else 0)
PY
report "every SPEC 7 drift rule is planted and has an open alert" $? "$tmp/out"

"$PYTHON3" - "$tmp/a/demo.db" >"$tmp/out" 2>&1 <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
names = [n for (n,) in c.execute("SELECT name FROM customers") if n]
esc = [n for n in names if "\x1b" in n]
utf8 = [n for n in names if any(ord(ch) > 127 for ch in n)]
mails = [m for (m,) in c.execute("SELECT email FROM customers") if m and any(ord(ch) > 127 for ch in m)]
print(len(esc), len(utf8), len(mails))
sys.exit(0 if esc and "\x1b]0;" in esc[0] and len(utf8) > 1 else 1)
PY
report "a customer's name carries an escape sequence, others UTF-8" $? "$tmp/out"

# --- reading it back: the configuration, the clock, re-ingest ---------------------
now=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["now"])' "$tmp/a.json")
TALLY_NOW=$now "$TALLY" --config "$A/tally.conf" status >"$tmp/out" 2>&1
report "its tally.conf reads the mirror (status at the demo's now)" $? "$tmp/out"
TALLY_NOW=$now "$TALLY" --config "$A/tally.conf" customers >"$tmp/out" 2>&1
rc=$?
[ $rc = 0 ] && ! grep -q $'\033' "$tmp/out" && ! grep -q $'\a' "$tmp/out"
report "customers prints without a raw escape sequence" $? "$tmp/out"
cus=$("$PYTHON3" -c 'import json,sys; print([p["customer"] for p in json.load(open(sys.argv[1]))["plants"] if p["rule"] == "access-after-expiry"][0])' "$A/plants.json")
TALLY_NOW=$now "$TALLY" --config "$A/tally.conf" --json access "$cus" chat >"$tmp/out" 2>&1
[ $? = 1 ] && grep -q '"period-ended"' "$tmp/out"
report "access answers as of the demo's now (the expired subscription is denied)" $? "$tmp/out"

cp "$A/webhooks.log" "$tmp/again.log"
cp "$A/usage.log" "$tmp/again-usage.log"
OBJ=ledger,balances,customers,subscriptions,subscription_items,invoices,invoice_lines,checkout_sessions,charges,reversals,entitlements
dump "$tmp/a/demo.db" "$OBJ" >"$tmp/before"
TALLY_NOW=$now "$TALLY" --config "$A/tally.conf" --json ingest --webhooks "$tmp/again.log" \
	--usage "$tmp/again-usage.log" >"$tmp/out" 2>&1
rc=$?
dump "$tmp/a/demo.db" "$OBJ" >"$tmp/after"
[ $rc = 0 ] && "$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["webhooks"]["applied"] == 0 and d["usage"]["applied"] == 0 and d["ledger_entries"] == 0 else 1)' "$tmp/out" &&
	cmp -s "$tmp/before" "$tmp/after"
report "its logs read again (under other names) change no credit and no object" $? "$tmp/out"

# --- the fake Stripe server serves its state -----------------------------------------
fake_start "$A"
"$PYTHON3" - "$(cat "$A/port" 2>/dev/null)" "$A/state.json" "$tmp/a/demo.db" >"$tmp/out" 2>&1 <<'PY'
import json, sqlite3, sys, urllib.request
port, state, db = sys.argv[1:4]
key = json.load(open(state))["api_key"]
def get(path):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path),
                                 headers={"Authorization": "Bearer " + key})
    return json.load(urllib.request.urlopen(req, timeout=10))
ids, after = [], None
while True:
    page = get("/v1/customers?limit=100" + ("&starting_after=" + after if after else ""))
    ids += [o["id"] for o in page["data"]]
    if not page["has_more"]:
        break
    after = ids[-1]
mirror = {i for (i,) in sqlite3.connect(db).execute("SELECT id FROM customers WHERE placeholder = 0")}
inv = get("/v1/invoices?limit=3&expand[]=data.payments")
print(len(ids), len(mirror), len(inv["data"]))
sys.exit(0 if set(ids) == mirror and inv["data"] else 1)
PY
report "fake_stripe.py loads state.json and lists the same customers as the mirror" $? "$tmp/out"
fake_stop

# --- where it goes, what it refuses ---------------------------------------------------
printf 'not a mirror\n' >"$tmp/precious.db"
demo --customers $N --months $M --out "$tmp/precious.db" >"$tmp/out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q 'not a demo mirror' "$tmp/out" && [ "$(cat "$tmp/precious.db")" = "not a mirror" ]
report "it refuses to replace a file that is not a demo mirror" $? "$tmp/out"
demo --customers 5 --out "$tmp/x.db" >"$tmp/out" 2>&1
[ $? = 2 ] && grep -q -- '--customers' "$tmp/out"
report "too few customers is a usage error naming the flag" $? "$tmp/out"
demo --months 0 --out "$tmp/x.db" >"$tmp/out" 2>&1
[ $? = 2 ] && grep -q -- '--months' "$tmp/out"
report "zero months is a usage error naming the flag" $? "$tmp/out"
demo --seed abc --out "$tmp/x.db" >"$tmp/out" 2>&1
[ $? = 2 ] && grep -q -- '--seed' "$tmp/out"
report "a seed that is not a number is a usage error" $? "$tmp/out"
demo --customers $N --months $M --bogus >"$tmp/out" 2>&1
[ $? = 2 ] && grep -q -- "'--bogus'" "$tmp/out"
report "an unknown argument is a usage error" $? "$tmp/out"
[ ! -e "$tmp/x.db" ]
report "and none of them wrote a mirror" $?

XDG_DATA_HOME=$tmp/xdg demo --customers 30 --months 2 </dev/null >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 0 ] && [ -f "$tmp/xdg/tally/demo.db" ] && [ -f "$tmp/xdg/tally/demo.d/tally.conf" ] &&
	grep -q 'not on a terminal' "$tmp/err" && grep -q "TALLY_NOW=" "$tmp/out"
report "without --out: under \$XDG_DATA_HOME/tally, and no console off a terminal" $? "$tmp/err"
[ "$(stat -c %a "$tmp/xdg/tally/demo.db")" = 600 ] && [ "$(stat -c %a "$tmp/xdg/tally/demo.d")" = 700 ]
report "the mirror is mode 0600 and its directory 0700" $?
