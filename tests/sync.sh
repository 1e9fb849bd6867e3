#!/bin/bash
# Sync against the fake Stripe (TAP).  One generated history
# (tests/lib/stripe_events.py) is served by tests/lib/fake_stripe.py, and
#   - a first sync (backfill across many pages, then event catch-up) plus the
#     usage log gives exactly the ledger the history implies;
#   - a second sync changes nothing;
#   - new events are caught up; an object changed both by an event and by a
#     list page ends in the newer state, whichever tally saw last;
#   - under each injected fault (429 storms with Retry-After, 500, 503, slow
#     answers, truncated bodies, dropped connections) the sync finishes and
#     the mirror equals the clean one; a bad key stops it with a clear error
#     that never shows the key;
#   - the client keeps to its configured rate, counted by the fake;
#   - kill -9 during a sync, then a restart: the same mirror;
#   - a webhook log with deliveries missing: the API fills the gap through
#     the same keys and nothing doubles;
#   - `tally status` reports it; `tally sync --follow` picks up new events
#     and stops cleanly on SIGTERM.
#
# Environment: TALLY, SRCDIR, PYTHON3 (set by make check); SYNC_SEED,
# SYNC_CUSTOMERS (default 120), SYNC_MONTHS (6), SYNC_KILLS (5); KEEP=1
# keeps the work directory.
set -u
. "${SRCDIR:-.}/tests/lib/tap.sh"
tap_setup sync
SEED=${SYNC_SEED:-20261124}
CUSTOMERS=${SYNC_CUSTOMERS:-120}
MONTHS=${SYNC_MONTHS:-6}
KILLS=${SYNC_KILLS:-5}
export TALLY_CONFIG="$tmp/tally.conf"
# The fake answers at once; the tests are about behaviour, not speed.
cat >"$tmp/tally.conf" <<EOF
catalog = $CATALOG
rate_limit = 200
EOF

mirror() { "$PYTHON3" "$MIRROR" "$@"; }

# syncdb NAME [sync args]: usage log then sync into $tmp/NAME.db
syncdb() {
	local name=$1
	shift
	"$TALLY" --db "$tmp/$name.db" ingest --usage "$tmp/gen/usage.log" >"$tmp/$name.ing" 2>&1 &&
	"$TALLY" --db "$tmp/$name.db" --json sync "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
}

# same NAME DESC: the mirror NAME equals the clean one (ledger, balances,
# events, usage and every mirrored object)
same() {
	: >"$tmp/diag"
	mirror snap "$tmp/$1.db" "$tmp/$1.json" >>"$tmp/diag" 2>&1 &&
	mirror compare "$tmp/clean.json" "$tmp/$1.json" --objects >>"$tmp/diag" 2>&1 &&
	mirror cache "$tmp/$1.json" >>"$tmp/diag" 2>&1
	report "$2" $? "$tmp/diag"
}

# --- the history --------------------------------------------------------------

mkdir -p "$tmp/gen" "$tmp/state"
if ! "$PYTHON3" "$GEN" --seed "$SEED" --customers "$CUSTOMERS" --months "$MONTHS" \
    --out-dir "$tmp/gen" --stripe-state "$tmp/state" --quiet >"$tmp/gen.err" 2>&1; then
	echo "1..1"
	report "generate the history" 1 "$tmp/gen.err"
	exit 0
fi
NOW=$(now_of "$tmp/gen/expected.json")
export TALLY_NOW=$NOW
cp "$tmp/state/state.json" "$tmp/state.orig.json"

echo "1..$((37 + KILLS))"
echo "# history seed $SEED ($CUSTOMERS customers, $MONTHS months)"

# --- a clean sync ------------------------------------------------------------------

fake_start "$tmp/state"
syncdb clean
rc=$?
report "a first sync exits 0" $rc "$tmp/clean.err"
: >"$tmp/diag"
mirror snap "$tmp/clean.db" "$tmp/clean.json" >>"$tmp/diag" 2>&1 &&
mirror oracle "$tmp/clean.json" "$tmp/gen/expected.json" >>"$tmp/diag" 2>&1 &&
mirror cache "$tmp/clean.json" >>"$tmp/diag" 2>&1
report "the API and the usage log give the ledger the history implies" $? "$tmp/diag"

read -r pages objects <<<"$(sql "$tmp/clean.db" "SELECT SUM(pages), SUM(objects) FROM sync_resources" | tr '|' ' ')"
echo "# backfill: $objects objects in $pages pages"
[ "${pages:-0}" -gt 10 ] && [ "${objects:-0}" -gt 1000 ]
report "the backfill read thousands of objects across many pages" $?

"$TALLY" --db "$tmp/clean.db" --json status >"$tmp/status.json" 2>"$tmp/status.err"
"$PYTHON3" - "$tmp/status.json" >"$tmp/diag" 2>&1 <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
bad = []
if s["pass_done"] < 1: bad.append("no pass finished")
if s["requests"] <= 0: bad.append("no requests counted")
if s["last_error"] is not None: bad.append("last_error: %s" % s["last_error"])
if not s["events_cursor"]: bad.append("no events cursor")
if not all(r["done"] for r in s["resources"]): bad.append("a resource not done")
if s["counts"]["customers"] <= 0: bad.append("no customers counted")
if s["last_sync_at"] is None: bad.append("no last_sync_at")
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
report "tally status shows the pass done, the events cursor, requests, no error" $? "$tmp/diag"

cp "$tmp/clean.db" "$tmp/again.db"
"$TALLY" --db "$tmp/again.db" --json sync >"$tmp/again.out" 2>"$tmp/again.err"
report "a second sync exits 0" $? "$tmp/again.err"
same again "and changes nothing"

cp "$tmp/clean.db" "$tmp/recon.db"
"$TALLY" --db "$tmp/recon.db" --json sync --reconcile >"$tmp/recon.out" 2>"$tmp/recon.err"
report "a forced reconciliation exits 0" $? "$tmp/recon.err"
same recon "and changes nothing either"

# A pass in progress that lacks a resource's row (a mirror from a build
# that listed fewer resources) must still finish, not list page one forever.
cp "$tmp/clean.db" "$tmp/norow.db"
"$PYTHON3" - "$tmp/norow.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("DELETE FROM sync_resources WHERE name = 'events'")
c.execute("UPDATE sync_resources SET done = 0, cursor = NULL WHERE name = 'disputes'")
c.execute("UPDATE meta SET value = CAST(value AS INTEGER) - 1 WHERE key = 'sync.pass_done'")
c.commit()
PY
timeout 300 "$TALLY" --db "$tmp/norow.db" --json sync >"$tmp/norow.out" 2>"$tmp/norow.err"
report "a pass missing a resource's row finishes (exit $?)" $? "$tmp/norow.err"
same norow "and changes nothing"

# --- catch-up and the newer state winning -----------------------------------------

cp "$tmp/clean.db" "$tmp/catch.db"
"$PYTHON3" - "$tmp/state/state.json" "$NOW" >"$tmp/catch.ids" 2>"$tmp/diag" <<'EOF'
import copy, json, sys
path, now = sys.argv[1], int(sys.argv[2])
st = json.load(open(path))
objs = st["objects"]
paid = [o for o in objs if o.get("object") == "invoice" and o.get("status") == "paid"
        and (o.get("subscription") or (o.get("parent") or {}).get("subscription_details"))]
orig = paid[-1]
inv = copy.deepcopy(orig)
inv["id"] = "in_catchup0001"
inv["created"] = now + 600
for l in (inv.get("lines") or {}).get("data", []):
    l["id"] = "il_catchup_" + l["id"]
# Stripe says the line list is cut short: the event carries none of them,
# the object (as a list page would give it) all of them, and tally must
# complete it from /v1/invoices/{id}/lines before granting.
inv["lines"]["has_more"] = True
objs.append(inv)
partial = copy.deepcopy(inv)
partial["lines"]["data"] = []
ev = {"id": "evt_catchup0001", "object": "event", "api_version": st["events"][-1].get("api_version"),
      "created": now + 600, "livemode": False, "pending_webhooks": 0, "type": "invoice.paid",
      "data": {"object": partial}, "request": {"id": None, "idempotency_key": None}}
st["events"].append(ev)
# A deletion stub of a kind Stripe never deletes: quarantined, not fatal.
st["events"].append({"id": "evt_catchup0004", "object": "event", "created": now + 601,
                     "livemode": False, "pending_webhooks": 0, "type": "charge.deleted",
                     "api_version": ev["api_version"],
                     "data": {"object": {"id": "ch_catchup_stub", "object": "charge", "deleted": True}},
                     "request": {"id": None, "idempotency_key": None}})
# A customer renamed by an event newer than the first sync's list page.
cus = next(o for o in objs if o.get("object") == "customer")
new = dict(cus, name="Renamed By Event")
objs[objs.index(cus)] = new
# Stripe's clock has moved on past all of it.
st["now"] = now + 7200
st["events"].append({"id": "evt_catchup0002", "object": "event", "created": now + 3600,
                     "livemode": False, "pending_webhooks": 0, "type": "customer.updated",
                     "api_version": ev["api_version"], "data": {"object": new},
                     "request": {"id": None, "idempotency_key": None}})
json.dump(st, open(path, "w"))
# And one older than the list page, delivered late through the webhook log.
old = dict(cus, name="Stale Name From An Old Event")
with open(path.replace("state.json", "late.log"), "w") as f:
    json.dump({"id": "evt_catchup0003", "object": "event", "created": now - 86400,
               "livemode": False, "pending_webhooks": 0, "type": "customer.updated",
               "api_version": ev["api_version"], "data": {"object": old},
               "request": {"id": None, "idempotency_key": None}}, f)
    f.write("\n")
print(orig["id"], cus["id"], cus.get("name") or "")
EOF
read -r orig_inv cus_id cus_name <"$tmp/catch.ids"
fake_post /_fake/reload
"$TALLY" --db "$tmp/catch.db" --json sync >"$tmp/catch.out" 2>"$tmp/catch.err"
report "a sync after new events exits 0" $? "$tmp/catch.err"
want=$(sql "$tmp/catch.db" "SELECT amount FROM ledger WHERE key = ?" "grant:invoice:$orig_inv")
got=$(sql "$tmp/catch.db" "SELECT amount FROM ledger WHERE key = 'grant:invoice:in_catchup0001'")
[ -n "$want" ] && [ "$got" = "$want" ]
report "the new paid invoice (lines cut short) was caught up, completed and granted once ($got, like $orig_inv: $want)" $?
got=$(sql "$tmp/catch.db" "SELECT count(*) FROM quarantine WHERE kind = 'api' AND reason LIKE '%evt_catchup0004%'")
[ "$got" = 1 ]
report "an event tally cannot apply is quarantined with its id and the rest goes on" $?
got=$(sql "$tmp/catch.db" "SELECT count(*) FROM events WHERE id IN ('evt_catchup0001', 'evt_catchup0002')")
[ "$got" = 2 ]
report "every new event is in the mirror once" $?
got=$(sql "$tmp/catch.db" "SELECT name FROM customers WHERE id = ?" "$cus_id")
[ "$got" = "Renamed By Event" ]
report "an event newer than the list page wins (name: $got)" $?
"$TALLY" --db "$tmp/catch.db" --json sync --reconcile >"$tmp/catch2.out" 2>"$tmp/catch2.err"
"$TALLY" --db "$tmp/catch.db" ingest --webhooks "$tmp/state/late.log" >"$tmp/catch3.out" 2>&1
got=$(sql "$tmp/catch.db" "SELECT name FROM customers WHERE id = ?" "$cus_id")
state=$(sql "$tmp/catch.db" "SELECT state FROM events WHERE id = 'evt_catchup0003'")
[ "$got" = "Renamed By Event" ] && [ "$state" = superseded ]
report "a later list page agrees, and an older event arriving late does not undo it ($got; old event $state)" $?
got=$(sql "$tmp/catch.db" "SELECT count(*) FROM ledger WHERE key = 'grant:invoice:in_catchup0001'")
[ "$got" = 1 ]
report "and the caught-up grant is still there once" $?
fake_stop
cp "$tmp/state.orig.json" "$tmp/state/state.json"

# --- faults -----------------------------------------------------------------------

# fault NAME DESC RULES-JSON: a fresh mirror synced under those faults
fault() {
	"$PYTHON3" - "$tmp/state/state.json" "$3" <<'EOF'
import json, sys
st = json.load(open(sys.argv[1]))
st["faults"] = json.loads(sys.argv[2])
json.dump(st, open(sys.argv[1], "w"))
EOF
	fake_start "$tmp/state"
	syncdb "$1"
	local rc=$?
	local hit
	hit=$(grep -c '"fault": "' "$tmp/state/requests.jsonl" 2>/dev/null)
	fake_stop
	cp "$tmp/state.orig.json" "$tmp/state/state.json"
	[ "$rc" = 0 ] && [ "${hit:-0}" -gt 0 ]
	report "$2: the sync finishes ($hit faulted answers)" $? "$tmp/$1.err"
	same "$1" "$2: the mirror equals the clean one"
}
fault f429 "a 429 storm with Retry-After" \
    '[{"kind": "429", "path": "/v1/invoices", "count": 4, "retry_after": 1}]'
fault f500 "500s" '[{"kind": "500", "path": "/v1/", "after": 3, "count": 3}]'
fault f503 "503s, then a Stripe-Should-Retry: true 409" \
    '[{"kind": "503", "path": "/v1/subscriptions", "count": 2},
      {"kind": "409", "path": "/v1/events", "count": 1, "should_retry": "true"}]'
fault fslow "slow answers" '[{"kind": "slow", "path": "/v1/customers", "count": 2, "delay_ms": 1500}]'
fault ftrunc "truncated bodies and dropped connections" \
    '[{"kind": "truncate", "path": "/v1/charges", "count": 2},
      {"kind": "drop", "path": "/v1/events", "count": 2}]'

# A bad key: a clear error, exit 3, the key never shown.
fake_start "$tmp/state"
STRIPE_API_KEY=sk_test_wrongwrongwrong1234 "$TALLY" --db "$tmp/badkey.db" sync \
    >"$tmp/badkey.out" 2>"$tmp/badkey.err"
rc=$?
! grep -q wrongwrongwrong "$tmp/badkey.out" "$tmp/badkey.err" &&
grep -q '401' "$tmp/badkey.err" && [ "$rc" = 3 ]
report "a bad key stops the sync with exit 3 and a 401 that does not show the key" $? \
    "$tmp/badkey.err"
err=$(sql "$tmp/badkey.db" "SELECT value FROM meta WHERE key = 'sync.last_error'")
case "$err" in *401*) ! echo "$err" | grep -q wrongwrongwrong ;; *) false ;; esac
report "and the mirror keeps it as the last error, masked" $?
fake_stop

# --- the rate limiter ----------------------------------------------------------------

fake_start "$tmp/state"
printf 'catalog = %s\nrate_limit = 8\n' "$CATALOG" >"$tmp/slow.conf"
TALLY_CONFIG="$tmp/slow.conf" "$TALLY" --db "$tmp/rate.db" sync >"$tmp/rate.out" 2>"$tmp/rate.err"
rc=$?
"$PYTHON3" - "$tmp/state/requests.jsonl" 8 >"$tmp/diag" 2>&1 <<'EOF'
import json, sys
# The fake stamps each request as it reads it; on a loaded machine a stamp
# can be late by a scheduling slice, which brings it closer to the next
# one.  So: the average over the whole run must not exceed the rate, and no
# window of 0.9 s (a tenth of a second for that jitter) may hold more than
# the rate.
ts = sorted(json.loads(l)["t"] for l in open(sys.argv[1]))
rate = int(sys.argv[2])
worst, j = 0, 0
for i, t in enumerate(ts):
    while ts[j] <= t - 0.9:
        j += 1
    worst = max(worst, i - j + 1)
avg = (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) > 1 and ts[-1] > ts[0] else 0
print("%d requests at %.2f/s on average; at most %d in any 0.9 s (limit %d/s)"
      % (len(ts), avg, worst, rate))
sys.exit(0 if len(ts) >= 3 * rate and worst <= rate and avg <= rate else 1)
EOF
st=$?
echo "# $(cat "$tmp/diag")"
[ "$rc" = 0 ] && [ "$st" = 0 ]
report "at rate_limit = 8 the fake never sees more than 8 requests a second" $? "$tmp/diag"
fake_stop

# --- kill -9 during a sync ----------------------------------------------------------

fake_start "$tmp/state"
"$TALLY" --db "$tmp/kill.db" ingest --usage "$tmp/gen/usage.log" >/dev/null 2>&1
printf 'catalog = %s\nrate_limit = 25\n' "$CATALOG" >"$tmp/kill.conf"
for k in $(seq 1 "$KILLS"); do
	TALLY_CONFIG="$tmp/kill.conf" "$TALLY" --db "$tmp/kill.db" sync >/dev/null 2>&1 &
	pid=$!
	sleep "$("$PYTHON3" -c 'import random; print(round(random.uniform(0.2, 2.5), 2))')"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	"$PYTHON3" - "$tmp/kill.db" >"$tmp/diag" 2>&1 <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
bad = c.execute("SELECT customer, b.balance, (SELECT SUM(amount) FROM ledger l "
                "WHERE l.customer = b.customer) FROM balances b").fetchall()
bad = [r for r in bad if r[1] != r[2]]
print(bad[:5])
sys.exit(1 if bad else 0)
EOF
	report "kill -9 #$k: every cached balance still equals its ledger sum" $? "$tmp/diag"
done
"$TALLY" --db "$tmp/kill.db" sync >"$tmp/kill.out" 2>"$tmp/kill.err"
report "the sync after the kills finishes" $? "$tmp/kill.err"
same kill "and the mirror equals an uninterrupted run"
fake_stop

# --- the webhook log and the API disagree -------------------------------------------

# Drop every fourth delivery from the log: failed deliveries, missed events.
"$PYTHON3" - "$tmp/gen/webhooks.log" "$tmp/gaps.log" <<'EOF'
import json, sys
src, dst = sys.argv[1:3]
dec = json.JSONDecoder()
text = open(src).read()
out, i, k = [], 0, 0
while True:
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    v, j = dec.raw_decode(text, i)
    if k % 4 != 3:
        out.append(text[i:j])
    i, k = j, k + 1
open(dst, "w").write("\n".join(out) + "\n")
EOF
fake_start "$tmp/state"
"$TALLY" --db "$tmp/gaps.db" ingest --webhooks "$tmp/gaps.log" --usage "$tmp/gen/usage.log" \
    >"$tmp/gaps.ing" 2>&1
missing=$(sql "$tmp/gaps.db" "SELECT count(*) FROM events")
"$TALLY" --db "$tmp/gaps.db" sync >"$tmp/gaps.out" 2>"$tmp/gaps.err"
report "a sync over a mirror fed by a gappy log exits 0" $? "$tmp/gaps.err"
: >"$tmp/diag"
mirror snap "$tmp/gaps.db" "$tmp/gaps.json" >>"$tmp/diag" 2>&1 &&
mirror oracle "$tmp/gaps.json" "$tmp/gen/expected.json" >>"$tmp/diag" 2>&1 &&
mirror cache "$tmp/gaps.json" >>"$tmp/diag" 2>&1
report "the API filled the gaps ($missing events from the log): the history's ledger, nothing doubled" \
    $? "$tmp/diag"
"$TALLY" --db "$tmp/gaps.db" ingest --webhooks "$tmp/gen/webhooks.log" >"$tmp/gaps2.ing" 2>&1
: >"$tmp/diag"
mirror snap "$tmp/gaps.db" "$tmp/gaps2.json" >>"$tmp/diag" 2>&1 &&
mirror compare "$tmp/gaps.json" "$tmp/gaps2.json" >>"$tmp/diag" 2>&1
report "the late deliveries arriving afterwards change no credit" $? "$tmp/diag"
fake_stop

# --- sync --follow ---------------------------------------------------------------

fake_start "$tmp/state"
cp "$tmp/clean.db" "$tmp/follow.db"
printf 'catalog = %s\nsync_interval = 1\n' "$CATALOG" >"$tmp/follow.conf"
TALLY_CONFIG="$tmp/follow.conf" "$TALLY" --db "$tmp/follow.db" sync --follow \
    >"$tmp/follow.out" 2>"$tmp/follow.err" &
fpid=$!
"$PYTHON3" - "$tmp/state/state.json" "$NOW" <<'EOF'
import copy, json, sys
path, now = sys.argv[1], int(sys.argv[2])
st = json.load(open(path))
cus = next(o for o in st["objects"] if o.get("object") == "customer")
st["events"].append({"id": "evt_follow0001", "object": "event", "created": now + 7200,
                     "livemode": False, "pending_webhooks": 0, "type": "customer.updated",
                     "api_version": st["events"][-1].get("api_version"),
                     "data": {"object": dict(cus, name="Seen While Following")},
                     "request": {"id": None, "idempotency_key": None}})
json.dump(st, open(path, "w"))
EOF
fake_post /_fake/reload
got=
for i in $(seq 1 150); do
	got=$(sql "$tmp/follow.db" "SELECT count(*) FROM events WHERE id = 'evt_follow0001'" 2>/dev/null)
	[ "$got" = 1 ] && break
	sleep 0.2
done
[ "$got" = 1 ]
report "sync --follow picks up a new event while it runs" $? "$tmp/follow.err"
kill -TERM "$fpid"
wait "$fpid"
report "and stops cleanly on SIGTERM (exit 0)" $? "$tmp/follow.err"
fake_stop
cp "$tmp/state.orig.json" "$tmp/state/state.json"
exit 0
