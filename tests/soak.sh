#!/bin/bash
# The soak (TAP): everything at once, for SOAK_SECONDS.
#
# A generated history reaches tally the way production does, a little at a
# time: tests/lib/soak.py appends its webhook and usage logs slice by slice
# (values often half written), and the fake Stripe's events grow with them
# while every fault kind comes and goes (429 storms, 500, 503, slow
# answers, truncated bodies, dropped connections, lost responses).
# `tally sync --follow` reads both the logs and the API on its thread and
# is killed (-9) and restarted every five seconds.  Meanwhile an operator
# adjusts credits (keys reused, so some submissions are no-ops) and
# reverses some of them (a second reversal is refused).
#
# Throughout, every second, the invariants hold on a read-only snapshot:
# each cached balance is its ledger sum, keys are unique, no source has two
# effects, nothing is reversed twice, no credit expires more than it
# granted, and no entry seen earlier is gone or changed.  At the end, once
# everything is written and the faults stop, the mirror equals one built
# in a single clean pass (logs, then sync) followed by the same operator
# actions: no credit lost, none doubled.
#
# Environment: TALLY, SRCDIR, PYTHON3 (set by make check); SOAK_SECONDS
# (default 40), SOAK_CUSTOMERS (40), SOAK_MONTHS (4), SOAK_SEED (random,
# printed), KEEP=1 keeps the work directory.
set -u
. "${SRCDIR:-.}/tests/lib/tap.sh"
tap_setup soak
DURATION=${SOAK_SECONDS:-40}
CUSTOMERS=${SOAK_CUSTOMERS:-40}
MONTHS=${SOAK_MONTHS:-4}
SEED=${SOAK_SEED:-$("$PYTHON3" -c 'import random; print(random.SystemRandom().randrange(1, 2**31))')}
SECRET=whsec_soak_test_secret
SOAK="$PYTHON3 $SRCDIR/tests/lib/soak.py"
echo "# seed $SEED, $CUSTOMERS customers, $MONTHS months, $DURATION s"

mkdir -p "$tmp/gen" "$tmp/full" "$tmp/live" "$tmp/stripe"
if ! "$PYTHON3" "$GEN" --seed "$SEED" --customers "$CUSTOMERS" --months "$MONTHS" \
    --secret "$SECRET" --out-dir "$tmp/gen" --stripe-state "$tmp/full" --quiet >"$tmp/gen.err" 2>&1; then
	echo "1..1"
	report "generate the history" 1 "$tmp/gen.err"
	exit 0
fi
export TALLY_NOW=$(now_of "$tmp/full/state.json") STRIPE_WEBHOOK_SECRET=$SECRET
: >"$tmp/live/webhooks.log"
: >"$tmp/live/usage.log"
"$PYTHON3" -c 'import json, sys
s = json.load(open(sys.argv[1])); s["events"] = []
json.dump(s, open(sys.argv[2], "w"))' "$tmp/full/state.json" "$tmp/stripe/state.json"

export TALLY_CONFIG="$tmp/tally.conf"
cat >"$tmp/tally.conf" <<EOF
catalog = $CATALOG
webhook_log = $tmp/live/webhooks.log
usage_log = $tmp/live/usage.log
sync_interval = 1s
rate_limit = 200
operator = soak
EOF
DB="$tmp/soak.db"

echo "1..5"
fake_start "$tmp/stripe"

followpid= feedpid=
at_exit 'stop_pid "$feedpid"; [ -n "$followpid" ] && kill -KILL "$followpid" 2>/dev/null'
follow() {
	"$TALLY" --db "$DB" sync --follow >>"$tmp/follow.out" 2>>"$tmp/follow.err" &
	followpid=$!
}

$SOAK feed "$tmp/gen" "$tmp/full" "$tmp/live" "$tmp/stripe" "$STRIPE_API_BASE" "$DURATION" "$SEED" \
    >"$tmp/feed.out" 2>&1 &
feedpid=$!
follow

# --- the soak: checks, operator actions and kills until the feed is done -----

declare -A cus_of
: >"$tmp/ops"           # the operator commands that succeeded, in order
record() { printf '%q ' "$@" >>"$tmp/ops"; echo >>"$tmp/ops"; ops=$((ops + 1)); }
: >"$tmp/bad"
checks=0 kills=0 ops=0 noops=0 refusals=0 tick=0
while [ ! -e "$tmp/live/done" ] && kill -0 "$feedpid" 2>/dev/null; do
	sleep 1
	tick=$((tick + 1))
	if [ -s "$DB" ]; then
		$SOAK check "$DB" "$tmp/seen.json" >"$tmp/check.out" 2>&1 ||
			{ echo "after ${tick}s:"; cat "$tmp/check.out"; } >>"$tmp/bad"
		checks=$((checks + 1))
	fi

	# An adjustment under one of nine keys, each bound to one customer the
	# first time it is used; every fifth second a reversal of one.
	k=$((tick % 9))
	if [ -z "${cus_of[$k]:-}" ] && [ -s "$DB" ]; then
		cus_of[$k]=$(sql "$DB" "SELECT id FROM customers WHERE placeholder = 0 ORDER BY id
		    LIMIT 1 OFFSET ?" "$k" 2>/dev/null)
	fi
	if [ -n "${cus_of[$k]:-}" ]; then
		args=(adjust "${cus_of[$k]}" $(((k + 1) * 100)) --reason "soak $k" --key "soak-$k" --yes)
		if "$TALLY" --db "$DB" "${args[@]}" >"$tmp/op.out" 2>&1; then
			record "${args[@]}"
			grep -q '^noop' "$tmp/op.out" && noops=$((noops + 1))
		else
			{ echo "after ${tick}s: ${args[*]} failed:"; cat "$tmp/op.out"; } >>"$tmp/bad"
		fi
	fi
	if [ $((tick % 5)) = 0 ] && [ -n "${cus_of[$((k / 2))]:-}" ]; then
		args=(reverse "adjust:soak-$((k / 2))" --reason "soak undo" --yes)
		"$TALLY" --db "$DB" "${args[@]}" >"$tmp/op.out" 2>&1
		case $? in
		0) record "${args[@]}" ;;
		1) grep -q 'already reversed\|not found' "$tmp/op.out" && refusals=$((refusals + 1)) ||
			{ echo "after ${tick}s: ${args[*]}:"; cat "$tmp/op.out"; } >>"$tmp/bad" ;;
		*) { echo "after ${tick}s: ${args[*]}:"; cat "$tmp/op.out"; } >>"$tmp/bad" ;;
		esac
	fi

	if [ $((tick % 5)) = 3 ]; then
		kill -KILL "$followpid" 2>/dev/null
		wait "$followpid" 2>/dev/null
		kills=$((kills + 1))
		follow
	fi
done
wait "$feedpid"
feed_rc=$?
feedpid=
echo "# $tick s: $checks checks, $ops operator actions ($noops no-ops, $refusals refused reversals), $kills kills"
[ $feed_rc = 0 ] && [ "$checks" -gt 3 ]
report "the feed ran to its end while the mirror was checked every second" $? "$tmp/feed.out"
[ ! -s "$tmp/bad" ]
report "the invariants held at every check, and every operator action was answered as expected" $? "$tmp/bad"
[ "$ops" -gt 3 ] && [ "$kills" -gt 0 ]
report "operator actions ran and the follower was killed while it worked" $?

# --- the end: one more round, then the same mirror as a clean single pass ---

# SIGTERM stops the follower within a round
kill -TERM "$followpid" 2>/dev/null
for i in $(seq 1 100); do kill -0 "$followpid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$followpid" 2>/dev/null; then
	echo "the follower (pid $followpid) did not stop within 10 s of SIGTERM" >"$tmp/last.out"
	kill -KILL "$followpid"
else
	: >"$tmp/last.out"
fi
wait "$followpid" 2>/dev/null
followpid=
[ ! -s "$tmp/last.out" ] &&
"$TALLY" --db "$DB" sync --once >>"$tmp/last.out" 2>&1 &&
	$SOAK check "$DB" "$tmp/seen.json" >>"$tmp/last.out" 2>&1
report "SIGTERM stops the follower; with everything written and no faults, a last sync finishes and the invariants hold" $? \
    "$tmp/last.out"

: >"$tmp/diag"
replayed=0
"$TALLY" --db "$tmp/ref.db" sync --once >"$tmp/ref.out" 2>&1 || { cat "$tmp/ref.out"; replayed=1; } >>"$tmp/diag"
while read -r line; do
	eval "op=($line)"
	"$TALLY" --db "$tmp/ref.db" "${op[@]}" >"$tmp/replay.out" 2>&1 ||
		{ echo "replaying: $line"; cat "$tmp/replay.out"; replayed=1; }
done <"$tmp/ops" >>"$tmp/diag"
[ $replayed = 0 ] &&
"$PYTHON3" "$MIRROR" snap "$tmp/ref.db" "$tmp/ref.json" >>"$tmp/diag" 2>&1 &&
"$PYTHON3" "$MIRROR" snap "$DB" "$tmp/soak.json" >>"$tmp/diag" 2>&1 &&
"$PYTHON3" "$MIRROR" compare "$tmp/ref.json" "$tmp/soak.json" --net-expiry --objects >>"$tmp/diag" 2>&1
report "the mirror equals a clean single pass plus the same operator actions" $? "$tmp/diag"
