#!/bin/bash
# Operator actions (TAP): adjust, reverse, resync, replay, audit, read-only.
# A generated history (tests/lib/stripe_events.py) is read into a mirror
# and served by tests/lib/fake_stripe.py; tests/lib/hook_endpoint.py plays
# the product's webhook endpoint (it verifies Stripe-Signature with the
# secret and records what it got).  What Stripe saw is counted in the
# fake's writes.jsonl and requests.jsonl.
#
#   - --dry-run changes nothing (every table identical) and prints the exact
#     request; no Stripe request is made;
#   - adjust twice with the same key: one ledger entry, one write at the fake;
#   - a push whose answer is lost once: the client's retry gets Stripe's
#     saved answer (one balance transaction); lost on every attempt: pending,
#     then the same command finds it (one balance transaction); pending,
#     then sync sees its event: confirmed without another POST;
#   - reverse, and reversing twice is refused (exit 1);
#   - typed confirmation for amounts above adjust_cap and live-mode keys,
#     on a terminal (a pty) and with --confirm; y/N declined;
#   - replay to the endpoint: signature verified with the secret, the body
#     byte-identical to the stored one, a new delivery row; the product's
#     record of it and the original late delivery change no ledger entry;
#   - --via-stripe: the fake records one retry; --failed replays what failed;
#   - resync: the dry run reports the missing grant and writes nothing; the
#     real one adds it;
#   - adjustments made while `tally sync --follow` writes all land, and so
#     does the sync;
#   - read-only (flag and configuration) refuses every action, changing
#     nothing; the audit log holds every action with its reason; the API
#     key appears in no output.
#
# Environment: TALLY, SRCDIR, PYTHON3 (set by make check); KEEP=1 keeps the
# work directory.
set -u
. "${SRCDIR:-.}/tests/lib/tap.sh"
tap_setup actions
HOOK="$SRCDIR/tests/lib/hook_endpoint.py"
SECRET=whsec_test_actions_0000
hookpid=
at_exit 'stop_pid "$hookpid"'
mkdir -p "$tmp/gen" "$tmp/state"
export TALLY_CONFIG="$tmp/tally.conf"
DB="$tmp/m.db"
ALL="$tmp/all-output"           # every output of tally, for the key check
: >"$ALL"

# t ARGS...: run tally on the mirror; stdout in $tmp/out, stderr in $tmp/err
t() {
	"$TALLY" --db "$DB" "$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	cat "$tmp/out" "$tmp/err" >>"$ALL"
	return $rc
}
# check DESC WANT-RC GOT-RC [EXTRA-STATUS]
check() {
	local st=0
	[ "$3" = "$2" ] || st=1
	[ -n "${4:-}" ] && [ "$4" != 0 ] && st=1
	{ echo "exit $3 (wanted $2)"; cat "$tmp/out" "$tmp/err"; } >"$tmp/diag"
	report "$1" $st "$tmp/diag"
}
# dbhash DB: a digest of every row of every table (what "changes nothing" means)
dbhash() { "$PYTHON3" -c 'import hashlib, sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
h = hashlib.sha256()
for (name,) in c.execute("SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE ? "
                         "ORDER BY name", ("table", "sqlite_%")):
    rows = sorted(repr(r) for r in c.execute("SELECT * FROM \"%s\"" % name))
    h.update(("%s:%d\n" % (name, len(rows))).encode())
    for r in rows:
        h.update(r.encode())
print(h.hexdigest())' "$1"; }
ledgerhash() { sql "$1" "SELECT seq, customer, amount, kind, key FROM ledger ORDER BY seq" | sha256sum; }
# lines FILE PATTERN: how many lines of FILE hold PATTERN
lines() { if [ -f "$1" ]; then grep -c -- "$2" "$1"; else echo 0; fi; return 0; }
# ptyrun INPUT ARGS...: run tally on a terminal (a pty), typing INPUT
# when it asks; output in $tmp/out
ptyrun() {
	local input=$1
	shift
	"$PYTHON3" - "$input" "$TALLY" --db "$DB" "$@" >"$tmp/out" 2>&1 <<'EOF'
import os, pty, sys, time
inp = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
out = b""
sent = False
deadline = time.time() + 60
while time.time() < deadline:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    if not sent and (b"[y/N]" in out or b"to confirm" in out):
        os.write(fd, inp.encode() + b"\n")
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 99)
EOF
	local rc=$?
	cat "$tmp/out" >>"$ALL"
	return $rc
}

# --- the history, the mirror, the fake --------------------------------------------

if ! "$PYTHON3" "$GEN" --seed 61 --customers 4 --months 3 --secret "$SECRET" \
    --out-dir "$tmp/gen" --stripe-state "$tmp/state" --quiet >"$tmp/gen.err" 2>&1; then
	echo "1..1"
	report "generate the history" 1 "$tmp/gen.err"
	exit 0
fi
NOW=$(now_of "$tmp/state/state.json")
export TALLY_NOW=$NOW
# The catalog says what a credit is worth (100 credits = 1 cent) so pushes
# can be converted; the webhook log gets two failed deliveries (the
# product answered 500) and the original, late, successful delivery of one
# of them is kept aside.
"$PYTHON3" - "$SRCDIR/data/catalog.example.json" "$tmp" "$SECRET" "$NOW" <<'EOF' || exit 1
import hashlib, hmac, json, sys
src, tmp, secret, now = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cat = json.load(open(src))
cat["credit_value"] = {"currency": "usd", "credits": 100, "minor_units": 1}
json.dump(cat, open(tmp + "/catalog.json", "w"), indent=2)
dec = json.JSONDecoder()
text = open(tmp + "/gen/webhooks.log").read()
recs, i = [], 0
while True:
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    v, i = dec.raw_decode(text, i)
    recs.append(v)
# Two invoice.paid events: every delivery of each is marked failed.
events = []
for r in recs:
    if "body" in r:
        ev = json.loads(r["body"])
        if ev["type"] == "invoice.paid" and ev["id"] not in events and len(events) < 2:
            events.append(ev["id"])
failed = []
for r in recs:
    if "body" in r and json.loads(r["body"])["id"] in events:
        r["status"], r["http_status"], r["error"] = "failed", 500, "db timeout"
        if not any(json.loads(f["body"])["id"] == json.loads(r["body"])["id"] for f in failed):
            failed.append(r)
with open(tmp + "/webhooks.log", "w") as f:
    for r in recs:
        f.write(json.dumps(r) + "\n")
late = dict(failed[0])
late.update(status="ok", http_status=200, attempt=2, error=None, received_at=now - 60)
t = late["received_at"]
late["signature"] = "t=%d,v1=%s" % (t, hmac.new(secret.encode(), ("%d." % t).encode() +
                                                late["body"].encode(), hashlib.sha256).hexdigest())
with open(tmp + "/late.log", "w") as f:
    f.write(json.dumps(late) + "\n")
with open(tmp + "/failed-events", "w") as f:
    for r in failed:
        f.write(json.loads(r["body"])["id"] + "\n")
EOF
cat >"$tmp/tally.conf" <<EOF
catalog = $tmp/catalog.json
rate_limit = 200
webhook_secret = $SECRET
operator = alice
webhook_endpoint_id = we_tally_fake_0000000000
replay_rate = 50
adjust_cap = 100000
EOF
chmod 600 "$tmp/tally.conf"

echo "1..62"

fake_start "$tmp/state"
WRITES="$tmp/state/writes.jsonl"
REQS="$tmp/state/requests.jsonl"

"$PYTHON3" "$HOOK" --secret "$SECRET" --record "$tmp/hook.jsonl" --log "$tmp/hook.log" \
    --port-file "$tmp/hook.port" --now "$NOW" 2>"$tmp/hook.err" &
hookpid=$!
wait_file "$tmp/hook.port"
HOOKURL="http://127.0.0.1:$(cat "$tmp/hook.port")/hook"

t ingest --webhooks "$tmp/webhooks.log" --usage "$tmp/gen/usage.log" &&
t sync
check "the mirror: the logs, then a sync from the fake" 0 $?
read -r CUS1 CUS2 CUS3 CUS4 <<<"$(sql "$DB" "SELECT id FROM customers ORDER BY id" | tr '\n' ' ')"

# --- adjust -------------------------------------------------------------------------

h0=$(dbhash "$DB")
r0=$(lines "$REQS" POST)
t adjust "$CUS1" 500 --reason "goodwill: outage" --push balance --dry-run
rc=$?
grep -q "POST $STRIPE_API_BASE/v1/customers/$CUS1/balance_transactions" "$tmp/out" &&
grep -q "Idempotency-Key: adjust:$CUS1:500:" "$tmp/out" &&
grep -q 'amount=-5&currency=usd&description=tally%20adjust%3A%20goodwill%3A%20outage&metadata\[tally_key\]=adjust%3A' "$tmp/out" &&
grep -q "balance: .* -> .* credits (+500)" "$tmp/out" && grep -q "dry run: nothing was changed" "$tmp/out"
check "adjust --dry-run prints the balance, the entry and the exact request" 0 $rc $?
[ "$(dbhash "$DB")" = "$h0" ] && [ "$(lines "$REQS" POST)" = "$r0" ] && [ ! -s "$WRITES" ]
report "... and changes nothing: every table identical, no request to Stripe" $?
t --json adjust "$CUS1" 500 --reason "goodwill: outage" --push balance --dry-run
"$PYTHON3" -c 'import json, sys
d = json.load(open(sys.argv[1]))
p = d["preview"]; r = p["request"]
assert d["dry_run"] and r["method"] == "POST" and r["headers"]["Idempotency-Key"] == p["idempotency_key"]
assert r["body"].startswith("amount=-5&currency=usd&") and p["ledger_rows"][0]["amount"] == 500
assert p["balance_after"] - p["balance_before"] == 500' "$tmp/out"
report "... and --json gives the same preview as data" $?

b0=$(sql "$DB" "SELECT balance FROM balances WHERE customer = ?" "$CUS1")
t adjust "$CUS1" 500 --reason "goodwill: outage" --push balance --yes
rc=$?
grep -q "^ok: adjusted $CUS1 by +500 credits.*pushed to Stripe: cbtxn_" "$tmp/out"
check "adjust --push balance --yes: entry written, pushed" 0 $rc $?
KEY1=$(sql "$DB" "SELECT key FROM ledger WHERE kind = 'adjust' AND customer = ?" "$CUS1")
[ "$(sql "$DB" "SELECT balance FROM balances WHERE customer = ?" "$CUS1")" = $((b0 + 500)) ] &&
[ "$(lines "$WRITES" "\"idempotency_key\": \"$KEY1\"")" = 1 ] &&
grep -q '"amount": -5' "$WRITES"
report "... the balance moved by 500 and the fake saw one balance transaction of -5 cents" $?
h1=$(dbhash "$DB")
t adjust "$CUS1" 500 --reason "goodwill: outage" --push balance --yes
rc=$?
grep -q "^noop: $KEY1 is already recorded" "$tmp/out"
check "the same submission again: nothing to do, says so, exit 0" 0 $rc $?
[ "$(sql "$DB" "SELECT count(*) FROM ledger WHERE key = ?" "$KEY1")" = 1 ] &&
[ "$(lines "$WRITES" "\"idempotency_key\": \"$KEY1\"")" = 1 ] &&
[ "$(lines "$REQS" "$KEY1")" = 1 ] &&
[ "$(sql "$DB" "SELECT result FROM audit ORDER BY id DESC LIMIT 1")" = noop ]
report "... one ledger entry, one Stripe request, audit result noop" $?
t adjust "$CUS1" 700 --reason "other" --key "${KEY1#adjust:}" --yes
check "the same key for another amount is refused (exit 2)" 2 $? \
    "$(grep -q 'already used by entry' "$tmp/out"; echo $?)"

t adjust "$CUS2" 300 --reason "a grant" --key grant1 --push grant --yes
rc=$?
[ "$(lines "$WRITES" '"kind": "billing.credit_grant.create"')" = 1 ] &&
grep -q '"idempotency_key": "adjust:grant1"' "$WRITES"
check "adjust --push grant: one credit grant at the fake" 0 $rc $?
t adjust "$CUS2" -300 --reason "take back" --key grant2 --push grant --yes
check "a negative grant is refused (exit 2)" 2 $? "$(grep -q 'cannot take credits back' "$tmp/out"; echo $?)"
t adjust "$CUS2" 250 --reason "odd" --key odd1 --push balance --yes
check "an amount that is not whole cents is refused (exit 2)" 2 $? \
    "$(grep -q 'not a whole number of minor units' "$tmp/out"; echo $?)"
t --catalog "$SRCDIR/data/catalog.example.json" adjust "$CUS2" 300 --reason "x" --key nv1 \
    --push balance --yes
check "without a credit_value in the catalog, a push is refused clearly (exit 2)" 2 $? \
    "$(grep -q 'no "credit_value"' "$tmp/out"; echo $?)"
t adjust "$CUS2" 300 --key nr1 --yes
check "adjust without --reason is a usage error" 2 $? "$(grep -q -- '--reason TEXT is required' "$tmp/err"; echo $?)"
t adjust cus_nobody 300 --reason "x" --yes
check "adjust of a customer not in the mirror: exit 1" 1 $?
t adjust "$CUS2" 300 --reason "no terminal"
check "without a terminal and without --yes: refused (exit 2), nothing written" 2 $? \
    "$(grep -q 'pass --yes' "$tmp/out" && [ "$(sql "$DB" "SELECT count(*) FROM ledger WHERE actor = 'alice' AND customer = ?" "$CUS2")" = 1 ]; echo $?)"

# --- lost responses ---------------------------------------------------------------------

fake_post /_fake/faults '[{"kind": "lost_response", "method": "POST", "path": "/v1/customers/", "count": 1}]'
t adjust "$CUS2" 100 --reason "lost once" --key lost1 --push balance --yes
rc=$?
[ "$(lines "$WRITES" '"idempotency_key": "adjust:lost1"')" = 1 ] &&
[ "$(lines "$REQS" '"idempotency_key": "adjust:lost1"')" = 2 ] &&
grep '"idempotency_key": "adjust:lost1"' "$REQS" | tail -1 | grep -q '"replayed": true'
check "an answer lost once: the retry under the same key is Stripe's replay; one balance transaction" 0 $rc $?

fake_post /_fake/faults '[{"kind": "lost_response", "method": "POST", "path": "/v1/customers/", "count": 50}]'
t adjust "$CUS3" 100 --reason "lost twice" --key lost2 --push balance --yes
rc=$?
grep -q "^pending: .*push PENDING" "$tmp/out" &&
[ "$(sql "$DB" "SELECT result FROM audit WHERE idem_key = 'adjust:lost2' ORDER BY id DESC LIMIT 1")" = pending ] &&
[ "$(sql "$DB" "SELECT count(*) FROM ledger WHERE key = 'adjust:lost2'")" = 1 ]
check "every answer lost: exit 3, the entry stands, the push is pending in the audit log" 3 $rc $?
t audit --pending
check "audit --pending lists it" 0 $? "$(grep -q 'adjust:lost2' "$tmp/out"; echo $?)"
fake_post /_fake/faults '[]'
t adjust "$CUS3" 100 --reason "lost twice" --key lost2 --push balance --yes
rc=$?
grep -q "^ok: adjust:lost2 was already recorded.*Stripe already had the push" "$tmp/out" &&
[ "$(lines "$WRITES" '"idempotency_key": "adjust:lost2"')" = 1 ] &&
[ "$(sql "$DB" "SELECT count(*) FROM ledger WHERE key = 'adjust:lost2'")" = 1 ]
check "the same command again finds it at Stripe: confirmed, still one balance transaction" 0 $rc $?
t audit --pending
check "... and nothing is pending" 0 $? "$(grep -q 'adjust:lost2' "$tmp/out"; [ $? = 1 ]; echo $?)"

fake_post /_fake/faults '[{"kind": "lost_response", "method": "POST", "path": "/v1/customers/", "count": 50}]'
t adjust "$CUS3" 200 --reason "lost, then sync" --key lost3 --push balance --yes
pend=$?
fake_post /_fake/faults '[]'
posts=$(lines "$REQS" '"idempotency_key": "adjust:lost3"')
t sync
t audit --pending
[ $pend = 3 ] && ! grep -q 'adjust:lost3' "$tmp/out"
report "pending, then sync sees Stripe's event carrying the key: no longer pending" $?
t adjust "$CUS3" 200 --reason "lost, then sync" --key lost3 --push balance --yes
rc=$?
grep -q "confirmed by event evt_.*seen by sync" "$tmp/out" &&
[ "$(lines "$REQS" '"idempotency_key": "adjust:lost3"')" = "$posts" ] &&
[ "$(lines "$WRITES" '"idempotency_key": "adjust:lost3"')" = 1 ]
check "... the next run records the confirmation without another request" 0 $rc $?

# --- reverse ----------------------------------------------------------------------------

h0=$(dbhash "$DB")
t reverse "$KEY1" --reason "wrong customer" --dry-run
rc=$?
grep -q "ledger:   + reverse -500 reverse:$KEY1 ref $KEY1" "$tmp/out" && [ "$(dbhash "$DB")" = "$h0" ]
check "reverse --dry-run shows the reversing entry and changes nothing" 0 $rc $?
t reverse "$KEY1" --reason "wrong customer" --yes
rc=$?
[ "$(sql "$DB" "SELECT amount, ref, actor FROM ledger WHERE key = ?" "reverse:$KEY1")" = "-500|$KEY1|alice" ] &&
[ "$(sql "$DB" "SELECT balance FROM balances WHERE customer = ?" "$CUS1")" = "$b0" ]
check "reverse: a reversing entry naming the entry; the balance is back" 0 $rc $?
h1=$(dbhash "$DB")
t reverse "$KEY1" --reason "again" --yes
rc=$?
grep -q "was already reversed" "$tmp/out" &&
[ "$(sql "$DB" "SELECT count(*) FROM ledger WHERE key LIKE 'reverse:%'")" = \
  "$(sql "$DB" "SELECT count(*) FROM ledger WHERE key LIKE 'reverse:%' AND ref IS NOT NULL")" ] &&
[ "$(sql "$DB" "SELECT count(*) FROM ledger WHERE key = ?" "reverse:$KEY1")" = 1 ] &&
[ "$(sql "$DB" "SELECT result FROM audit ORDER BY id DESC LIMIT 1")" = refused ]
check "reversing twice is refused (exit 1), audited as refused" 1 $rc $?
SEQ=$(sql "$DB" "SELECT seq FROM ledger WHERE key = ?" "reverse:$KEY1")
t reverse "$SEQ" --reason "undo the undo" --yes
check "a reversal is not reversed (exit 1)" 1 $? "$(grep -q 'itself a reversal' "$tmp/out"; echo $?)"
t reverse 999999 --reason "x" --yes
check "an unknown entry: exit 1" 1 $?

# --- confirmation ------------------------------------------------------------------------

sed -i 's/^adjust_cap = .*/adjust_cap = 1000/' "$tmp/tally.conf"
t adjust "$CUS4" 5000 --reason "big" --key big1 --yes
check "above adjust_cap, --yes alone is not enough without a terminal (exit 2)" 2 $? \
    "$(grep -q 'typed confirmation is needed' "$tmp/out" && [ "$(sql "$DB" "SELECT count(*) FROM ledger WHERE key = 'adjust:big1'")" = 0 ]; echo $?)"
t adjust "$CUS4" 5000 --reason "big" --key big1 --confirm 500
check "a wrong --confirm is declined (exit 1)" 1 $?
ptyrun 50000 adjust "$CUS4" 5000 --reason "big" --key big1
check "on a terminal, typing the wrong amount cancels (exit 1)" 1 $? \
    "$(grep -q 'type 5000 to confirm' "$tmp/out" && [ "$(sql "$DB" "SELECT count(*) FROM ledger WHERE key = 'adjust:big1'")" = 0 ]; echo $?)"
ptyrun 5000 adjust "$CUS4" 5000 --reason "big" --key big1
check "typing the amount confirms" 0 $? \
    "$(sql "$DB" "SELECT count(*) FROM ledger WHERE key = 'adjust:big1'" | grep -qx 1; echo $?)"
ptyrun n adjust "$CUS4" 10 --reason "small" --key small1
check "y/N answered n: declined (exit 1), nothing written" 1 $? \
    "$(grep -q 'Proceed? \[y/N\]' "$tmp/out" && [ "$(sql "$DB" "SELECT count(*) FROM ledger WHERE key = 'adjust:small1'")" = 0 ]; echo $?)"
ptyrun y adjust "$CUS4" 10 --reason "small" --key small1
check "y/N answered y: done" 0 $? \
    "$(sql "$DB" "SELECT count(*) FROM ledger WHERE key = 'adjust:small1'" | grep -qx 1; echo $?)"
sed -i 's/^adjust_cap = .*/adjust_cap = 100000/' "$tmp/tally.conf"
LIVE=sk_live_tally_test_key_51234
STRIPE_API_KEY=$LIVE t reverse adjust:small1 --reason "live" --yes
check "a live-mode key: --yes alone is refused, the customer must be typed (exit 2)" 2 $? \
    "$(grep -q "confirm: *type $CUS4 (the Stripe key is a live-mode key)" "$tmp/out"; echo $?)"
STRIPE_API_KEY=$LIVE t reverse adjust:small1 --reason "live" --confirm "$CUS4"
check "... typed (--confirm CUSTOMER): done" 0 $?
grep -q "$LIVE" "$ALL"
report "the live key appears in no output" $((1 - $?))

# --- replay -----------------------------------------------------------------------------

read -r EV1 EV2 <<<"$(tr '\n' ' ' <"$tmp/failed-events")"
D1=$(sql "$DB" "SELECT max(id) FROM deliveries WHERE event_id = ? AND status = 'failed'" "$EV1")
t deliveries --failed
check "the failed deliveries are listed" 0 $? "$(grep -q "$EV1" "$tmp/out" && grep -q "$EV2" "$tmp/out"; echo $?)"
h0=$(dbhash "$DB")
l0=$(ledgerhash "$DB")
t replay "$D1" --to "$HOOKURL" --dry-run
rc=$?
grep -q "no change to tally's billing state: event $EV1 (invoice.paid) is stored" "$tmp/out" &&
grep -q "request:  POST $HOOKURL" "$tmp/out" &&
grep -q "Stripe-Signature: t=$NOW,v1=[0-9a-f]\{64\}" "$tmp/out" &&
[ "$(dbhash "$DB")" = "$h0" ] && [ ! -s "$tmp/hook.jsonl" ]
check "replay --dry-run: no change to tally's state, the exact request, nothing sent or written" 0 $rc $?
t replay "$D1" --to "$HOOKURL" --yes --reason "the product missed it"
rc=$?
"$PYTHON3" - "$tmp/hook.jsonl" "$DB" "$EV1" "$SECRET" <<'EOF'
import json, sqlite3, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 1, recs
r = recs[0]
body = sqlite3.connect(sys.argv[2]).execute("SELECT body FROM events WHERE id = ?",
                                           (sys.argv[3],)).fetchone()[0]
assert r["verified"] and r["why"] == "valid", r["why"]
assert r["body"] == body, "body differs"
assert "Authorization" not in r["headers"]
assert r["headers"]["Content-Type"].startswith("application/json")
EOF
check "replay: the endpoint verified the signature with the secret; the body is byte-identical" 0 $rc $?
[ "$(sql "$DB" "SELECT dkey, status, http_status, response, sig_state, latency_ms IS NOT NULL FROM deliveries ORDER BY id DESC LIMIT 1")" = \
  "replay:$EV1:1|ok|200|{\"received\": true}|valid|1" ] &&
[ "$(sql "$DB" "SELECT action, target, result, reason FROM audit ORDER BY id DESC LIMIT 1")" = \
  "replay|$EV1|ok|the product missed it" ]
report "... recorded as a new delivery (status, HTTP status, latency, the answer) and audited" $?
[ "$(ledgerhash "$DB")" = "$l0" ]
report "... and the ledger is unchanged" $?
t ingest --webhooks "$tmp/hook.log"
rc=$?
t ingest --webhooks "$tmp/late.log"
[ $rc = 0 ] && [ $? = 0 ] && [ "$(ledgerhash "$DB")" = "$l0" ] &&
[ "$(sql "$DB" "SELECT count(*) FROM deliveries WHERE event_id = ? AND sig_state = 'valid'" "$EV1")" -ge 3 ]
report "the product's record of the replay, then the original late delivery: no double effect" $?
w0=$(lines "$WRITES" '"kind": "event.retry"')
t replay "$EV1" --via-stripe --yes --reason "ask Stripe"
rc=$?
[ "$(lines "$WRITES" '"kind": "event.retry"')" = $((w0 + 1)) ] &&
grep '"kind": "event.retry"' "$WRITES" | tail -1 | grep -q "\"object\": \"$EV1\".*\"webhook_endpoint\": \"we_tally_fake_0000000000\"" &&
grep '"kind": "event.retry"' "$WRITES" | tail -1 | grep -q "\"idempotency_key\": \"replay:$EV1:[0-9]*\""
check "replay --via-stripe: the fake records one retry, to the configured endpoint, with a key" 0 $rc $?
t replay "$EV1" --yes
check "replay with no endpoint (no --to, no webhook_endpoint_url) is refused (exit 2)" 2 $? \
    "$(grep -q 'no endpoint to deliver to' "$tmp/out"; echo $?)"
t replay --failed --to "$HOOKURL" --dry-run
rc=$?
grep -q "^1 event to replay" "$tmp/out" && grep -q "$EV2" "$tmp/out"
check "replay --failed --dry-run shows the count first (the one still failed)" 0 $rc $?
t replay --failed --to "$HOOKURL" --yes --reason "bulk"
rc=$?
[ "$(grep -c . "$tmp/hook.jsonl")" = 2 ] && tail -1 "$tmp/hook.jsonl" | grep -q '"verified":true' &&
grep -q "replayed 1 of 1: 1 ok" "$tmp/out"
check "replay --failed replays it" 0 $rc $?
t replay --failed --to "$HOOKURL" --yes
check "... and then nothing is left" 0 $? "$(grep -q '^0 events to replay' "$tmp/out"; echo $?)"

# --- resync -----------------------------------------------------------------------------

# A second mirror that missed one invoice.paid delivery: no grant for it.
DB2="$tmp/m2.db"
"$PYTHON3" - "$tmp/webhooks.log" "$tmp/partial.log" "$tmp/missed" <<'EOF'
import json, sys
# Every event about the first invoice paid by a delivery that went well
# is left out: the mirror never learns it was paid.
recs = [json.loads(l) for l in open(sys.argv[1])]
skipped = None
for r in recs:
    if "body" in r and r.get("status") == "ok":
        ev = json.loads(r["body"])
        if ev["type"] == "invoice.paid":
            skipped = ev["data"]["object"]
            break
out = open(sys.argv[2], "w")
for r in recs:
    ev = json.loads(r["body"]) if "body" in r else r
    if ev.get("data", {}).get("object", {}).get("id") == skipped["id"]:
        continue
    out.write(json.dumps(r) + "\n")
open(sys.argv[3], "w").write("%s %s\n" % (skipped["customer"], skipped["id"]))
EOF
read -r MCUS MINV <"$tmp/missed"
"$TALLY" --db "$DB2" ingest --webhooks "$tmp/partial.log" >/dev/null 2>&1
h2=$(dbhash "$DB2")
"$TALLY" --db "$DB2" resync "$MCUS" --dry-run >"$tmp/out" 2>"$tmp/err"
rc=$?
cat "$tmp/out" "$tmp/err" >>"$ALL"
grep -q "+ grant +[0-9]* grant:invoice:$MINV" "$tmp/out" && grep -q "dry run: nothing was changed" "$tmp/out" &&
[ "$(dbhash "$DB2")" = "$h2" ]
check "resync --dry-run reports the missing grant and writes nothing" 0 $rc $?
"$TALLY" --db "$DB2" --json resync "$MCUS" --reason "missed webhook" >"$tmp/out" 2>"$tmp/err"
rc=$?
cat "$tmp/out" "$tmp/err" >>"$ALL"
"$PYTHON3" -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["result"] == "ok" and d["objects"] > 0 and d["alerts_rechecked"]
assert any(e["key"] == "grant:invoice:" + sys.argv[2] for e in d["entries"])
assert set(d["access"]) >= {"chat", "api"}' "$tmp/out" "$MINV" &&
[ "$(sql "$DB2" "SELECT count(*) FROM ledger WHERE key = ?" "grant:invoice:$MINV")" = 1 ] &&
[ "$(sql "$DB2" "SELECT action, target, result, reason FROM audit")" = "resync|$MCUS|ok|missed webhook" ]
check "resync: fetched and applied, the grant added, access reported, audited" 0 $rc $?
STRIPE_API_KEY= "$TALLY" --db "$DB2" resync "$MCUS" >"$tmp/out" 2>"$tmp/err"
check "resync without an API key: a clear error (exit 2)" 2 $? \
    "$(grep -q 'needs the API key' "$tmp/err"; echo $?)"

# --- while the sync thread writes ------------------------------------------------------

cp "$tmp/tally.conf" "$tmp/live.conf"
printf 'usage_log = %s\nsync_interval = 1\n' "$tmp/live-usage.log" >>"$tmp/live.conf"
: >"$tmp/live-usage.log"
TALLY_CONFIG="$tmp/live.conf" "$TALLY" --db "$DB" sync --follow >"$tmp/follow.out" 2>"$tmp/follow.err" &
syncpid=$!
adj=0
for i in 1 2 3 4 5 6; do
	for j in 1 2 3 4 5; do
		printf '{"identifier": "req_live_%s_%s", "event_name": "api_tokens", "timestamp": %s, "payload": {"stripe_customer_id": "%s", "value": "7"}}\n' \
		    "$i" "$j" "$NOW" "$CUS2" >>"$tmp/live-usage.log"
	done
	TALLY_CONFIG="$tmp/live.conf" t adjust "$CUS2" 10 --reason "during sync $i" --key "live$i" --yes || adj=1
	sleep 0.2
done
for i in $(seq 1 100); do
	[ "$(sql "$DB" "SELECT count(*) FROM ledger WHERE key LIKE 'consume:usage:req_live_%'")" = 30 ] && break
	sleep 0.2
done
kill -TERM $syncpid 2>/dev/null
wait $syncpid
src=$?
[ $adj = 0 ] && [ $src = 0 ] &&
[ "$(sql "$DB" "SELECT count(*) FROM ledger WHERE key LIKE 'adjust:live%'")" = 6 ] &&
[ "$(sql "$DB" "SELECT count(*) FROM ledger WHERE key LIKE 'consume:usage:req_live_%'")" = 30 ] &&
[ "$(sql "$DB" "SELECT balance = (SELECT sum(amount) FROM ledger WHERE customer = ?1) FROM balances WHERE customer = ?1" "$CUS2")" = 1 ]
report "adjustments while the sync thread writes all land, and so does the sync" $? "$tmp/follow.err"

# --- read-only ----------------------------------------------------------------------------

h0=$(dbhash "$DB")
ro=0
for cmd in "adjust $CUS1 100 --reason ro --yes" "adjust $CUS1 100 --reason ro --dry-run" \
    "reverse adjust:grant1 --reason ro --yes" "resync $CUS1" "resync $CUS1 --dry-run" \
    "replay $EV2 --to $HOOKURL --yes" "replay --failed --to $HOOKURL --yes"; do
	# shellcheck disable=SC2086
	t --read-only $cmd
	rc=$?
	grep -q "refused: read-only mode (--read-only)" "$tmp/err" && [ $rc = 2 ] || ro=1
done
[ $ro = 0 ] && [ "$(dbhash "$DB")" = "$h0" ]
report "--read-only refuses every action (exit 2, says so) and nothing changes" $?
cp "$tmp/tally.conf" "$tmp/ro.conf"
echo "read_only = true" >>"$tmp/ro.conf"
ro=0
for cmd in "adjust $CUS1 100 --reason ro --yes" "reverse adjust:grant1 --reason ro --yes" \
    "resync $CUS1" "replay $EV2 --via-stripe --yes"; do
	# shellcheck disable=SC2086
	TALLY_CONFIG="$tmp/ro.conf" t $cmd
	rc=$?
	grep -q "refused: read-only mode (read_only = true in $tmp/ro.conf)" "$tmp/err" && [ $rc = 2 ] || ro=1
done
[ $ro = 0 ] && [ "$(dbhash "$DB")" = "$h0" ] && [ "$(lines "$WRITES" '"kind": "event.retry"')" = $((w0 + 1)) ]
report "read_only = true in the configuration refuses every action too" $?
t --read-only audit --limit 5
check "reads still work in read-only mode: the audit log" 0 $?

# --- the audit log ------------------------------------------------------------------------

t --json audit --limit 1000
"$PYTHON3" - "$tmp/out" "$KEY1" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))
by = {}
for r in rows:
    by.setdefault(r["action"], []).append(r)
assert {"adjust", "reverse", "replay"} <= set(by), set(by)
for r in rows:
    assert r["operator"] == "alice" and r["done_at"] and r["result"] in (
        "ok", "noop", "refused", "failed", "pending"), r
adj = [r for r in by["adjust"] if r["idem_key"] == sys.argv[2] and r["result"] != "refused"]
assert [r["result"] for r in reversed(adj)][:3] == ["pending", "ok", "noop"], adj
assert all(r["reason"] == "goodwill: outage" for r in adj)
ok = [r for r in adj if r["result"] == "ok"][0]
assert ok["request_id"].startswith("req_")
rev = [r for r in by["reverse"] if r["result"] == "ok"]
assert any(r["reason"] == "wrong customer" for r in rev)
assert any(r["reason"] == "the product missed it" for r in by["replay"])
for r in rows:
    if r["result"] == "ok" and r["action"] in ("adjust", "reverse") and r["after"]:
        json.loads(r["after"])
EOF
report "the audit log holds every action with operator, reason, result and request id" $?
t --json audit --action reverse --result refused
check "audit --action/--result filter it" 0 $? "$("$PYTHON3" -c 'import json, sys
rows = json.load(open(sys.argv[1]))
assert rows and all(r["action"] == "reverse" and r["result"] == "refused" for r in rows)
assert any("already reversed" in r["detail"] for r in rows)' "$tmp/out"; echo $?)"
[ "$(sql "$DB" "SELECT count(*) FROM audit WHERE reason IS NULL AND action IN ('adjust', 'reverse')")" = 0 ]
report "every adjust and reverse attempt has its reason" $?
sqlite3_fail=$("$PYTHON3" -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
try:
    c.execute("UPDATE audit SET reason = 1"); print("updated")
except sqlite3.DatabaseError as e:
    print(e)' "$DB")
[ "$sqlite3_fail" = "audit is append-only" ]
report "the audit log refuses edits" $?

# --- kill -9 during an adjustment --------------------------------------------------------
# Each round starts an adjustment pushed to Stripe, whose answer the fake
# holds for a while, and kills it at a random moment: before the entry,
# between the entry and the request, while Stripe holds the request, after
# the answer.  Running the same command again (at most three times: a
# retry may find the killed request still holding its key and be told to
# come back) must end with exactly one entry and exactly one balance
# transaction at the fake, confirmed in the audit log.
KILLS=${ACTIONS_KILLS:-6}
fake_post /_fake/faults '[{"kind": "slow", "method": "POST", "path": "/v1/customers/", "delay_ms": 400, "count": 1000}]'
bad=0
: >"$tmp/kdiag"
for i in $(seq 1 "$KILLS"); do
	delay=$("$PYTHON3" -c 'import random; print("%.2f" % random.uniform(0.0, 0.7))')
	"$TALLY" --db "$DB" adjust "$CUS4" 100 --reason "kill $i" --key "kill$i" --push balance --yes \
	    >>"$ALL" 2>&1 &
	kpid=$!
	sleep "$delay"
	kill -KILL $kpid 2>/dev/null
	wait $kpid 2>/dev/null
	for try in 1 2 3; do
		t adjust "$CUS4" 100 --reason "kill $i" --key "kill$i" --push balance --yes
		rc=$?
		[ $rc = 3 ] || break
	done
	e=$(sql "$DB" "SELECT count(*) FROM ledger WHERE key = ?" "adjust:kill$i")
	w=$(lines "$WRITES" "\"idempotency_key\": \"adjust:kill$i\"")
	# the push's state: its newest row with result ok, pending or failed
	last=$(sql "$DB" "SELECT result FROM audit WHERE idem_key = ? AND result IN ('ok', 'pending', 'failed')
	    ORDER BY id DESC LIMIT 1" "adjust:kill$i")
	if [ $rc != 0 ] || [ "$e" != 1 ] || [ "$w" != 1 ] || [ "$last" != ok ]; then
		bad=1
		{ echo "round $i, killed after ${delay}s: exit $rc after $try runs, $e entries," \
		    "$w balance transactions, push state '$last'"; cat "$tmp/out" "$tmp/err"; } >>"$tmp/kdiag"
	fi
done
fake_post /_fake/faults '[]'
report "kill -9 at $KILLS random points of a pushed adjustment, then the same command: one entry and one balance transaction each" $bad "$tmp/kdiag"
[ "$(sql "$DB" "SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE customer = ?" "$CUS4")" = \
  "$(sql "$DB" "SELECT COALESCE((SELECT balance FROM balances WHERE customer = ?), 0)" "$CUS4")" ] &&
[ "$(sql "$DB" "SELECT count(*) - count(DISTINCT key) FROM ledger")" = 0 ]
report "after the kills the cached balance is the ledger's sum and every key is unique" $?

# --- secrets --------------------------------------------------------------------------------

! grep -q "$KEY" "$ALL" && ! grep -q "$SECRET" "$ALL" && ! grep -q "$KEY" "$tmp/hook.jsonl"
report "neither the API key nor the webhook secret appears in any output" $?
