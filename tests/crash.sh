#!/bin/bash
# Crash safety (TAP): kill the ingesting process with SIGKILL at random
# instants, restart it, and repeat until an ingest completes; the mirror must
# then be the one an uninterrupted ingest makes (SPEC 4 and 13: no credit
# lost, none doubled).
#
# A generated history (tests/lib/stripe_events.py, 300 customers over 12
# months by default) is ingested once without interruption, which gives the
# reference and its duration D.  Then, in each of ROUNDS rounds on a fresh
# mirror, tally is started, killed after a random delay below D / KILLS, and
# started again, until KILLS kills have landed (the rest of the work then
# runs to completion).  A kill "lands" when tally was still running; it lands
# mid-ingest when the mirror, read right after it, still had work left.
# Delays are relative to D, so a slow machine only makes the test slower; no
# check depends on timing.
#
# Each round must end with: ledger and balances identical to the reference,
# every cached balance equal to its ledger sum; every event id once, with the
# same delivery count; every usage identifier once, with the same repeat
# count and one consumption; the same deliveries and quarantine; cursors at
# the ends of the files.
#
# Environment: TALLY, SRCDIR, PYTHON3 (set by make check); CRASH_SEED (the
# random delays, default random, printed), CRASH_CUSTOMERS (300),
# CRASH_MONTHS (12), CRASH_ROUNDS (3), CRASH_KILLS (kills per round, 14),
# KEEP=1 keeps the work directory.
set -u
. "${SRCDIR:-.}/tests/lib/tap.sh"
tap_setup crash
CUSTOMERS=${CRASH_CUSTOMERS:-300}
MONTHS=${CRASH_MONTHS:-12}
ROUNDS=${CRASH_ROUNDS:-3}
KILLS=${CRASH_KILLS:-14}
SEED=${CRASH_SEED:-$("$PYTHON3" -c 'import random; print(random.SystemRandom().randrange(1, 2**31))')}
SECRET=whsec_crash_test_secret

pid=
at_exit '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null'
export STRIPE_WEBHOOK_SECRET="$SECRET"

cat > "$tmp/mirror.py" <<'EOF'
"""Snapshots of a tally mirror, progress after a kill, comparisons."""
import json, os, sqlite3, subprocess, sys

def connect(db):
    return sqlite3.connect("file:%s?mode=ro" % db, uri=True)

def progress(db, total):
    """Bytes of the logs committed, and whether the ingest had finished
    (every cursor at its file's end and the expiries written)."""
    if not os.path.exists(db):
        print("0 nodb")
        return 0
    try:
        c = connect(db)
        done = sum(r[0] for r in c.execute("SELECT offset FROM cursors"))
        fin = c.execute("SELECT COUNT(*) FROM meta WHERE key = 'last_ingest_at'").fetchone()[0]
    except sqlite3.Error as e:
        # Killed before the schema was committed.
        print("0 %s" % str(e).replace(" ", "_"))
        return 0
    print("%d %s" % (done, "finished" if fin else "working"))
    return 0

def snap(tally, catalog, db, out):
    c = connect(db)
    events = json.loads(subprocess.run(
        [tally, "--db", db, "--catalog", catalog, "--json", "events", "--limit", "100000000"],
        check=True, capture_output=True).stdout)
    s = {
        "ledger": sorted(c.execute("SELECT customer, key, kind, amount, effective_at, "
                                   "expires_at FROM ledger").fetchall()),
        "balances": dict(c.execute("SELECT customer, balance FROM balances").fetchall()),
        "sums": dict(c.execute("SELECT customer, SUM(amount) FROM ledger "
                               "GROUP BY customer").fetchall()),
        "events": sorted([e["id"], e["delivery_count"], e["state"]] for e in events),
        "usage": sorted(c.execute("SELECT identifier, customer, event_name, value, timestamp, "
                                  "repeats FROM usage").fetchall()),
        "consumed": sorted(c.execute("SELECT source_id, COUNT(*) FROM ledger "
                                     "WHERE kind = 'consume' GROUP BY source_id").fetchall()),
        "deliveries": sorted(c.execute("SELECT dkey, event_id, received_at, attempt, status, "
                                       "sig_state, source_offset FROM deliveries").fetchall()),
        "quarantine": sorted(c.execute("SELECT kind, source_offset, reason FROM quarantine").fetchall()),
        "cursors": sorted(c.execute("SELECT path, offset FROM cursors").fetchall()),
    }
    with open(out, "w") as f:
        json.dump(s, f)

def show(title, rows, limit=8):
    rows = sorted(rows, key=repr)
    for r in rows[:limit]:
        print("# %s %s" % (title, json.dumps(r, ensure_ascii=False)))
    if len(rows) > limit:
        print("# ... and %d more" % (len(rows) - limit))

def diff(title, a, b):
    """Rows (flat lists) compared as multisets."""
    if a == b:
        return 0
    A, B = set(map(tuple, a)), set(map(tuple, b))
    print("# %s differ: %d in the reference, %d here" % (title, len(a), len(b)))
    show("only in reference:", A - B)
    show("only here:        ", B - A)
    return 1

def ledger(ref, out):
    R, S = json.load(open(ref)), json.load(open(out))
    bad = diff("ledger entries", R["ledger"], S["ledger"])
    bad |= diff("balances", sorted(R["balances"].items()), sorted(S["balances"].items()))
    wrong = [(k, S["balances"].get(k), S["sums"].get(k)) for k in set(S["balances"]) | set(S["sums"])
             if S["balances"].get(k) != S["sums"].get(k)]
    if wrong:
        bad = 1
        show("cached balance != ledger sum (customer, cached, sum):", wrong)
    return bad

def once(ref, out, expected):
    R, S, X = json.load(open(ref)), json.load(open(out)), json.load(open(expected))
    bad = 0
    ids = [e[0] for e in S["events"]]
    if len(ids) != len(set(ids)) or sorted(set(ids)) != sorted(X["event_ids"]):
        bad = 1
        print("# events: %d rows, %d ids, %d in the history" % (len(ids), len(set(ids)),
                                                              len(X["event_ids"])))
    bad |= diff("events (id, delivery count, state)", R["events"], S["events"])
    uids = [u[0] for u in S["usage"]]
    if len(uids) != len(set(uids)) or sorted(uids) != X["usage_ids"]:
        bad = 1
        print("# usage: %d rows, %d identifiers, %d in the history" % (
            len(uids), len(set(uids)), len(X["usage_ids"])))
    bad |= diff("usage rows (with repeat counts)", R["usage"], S["usage"])
    twice = [c for c in S["consumed"] if c[1] != 1]
    if twice or len(S["consumed"]) != len(X["usage_ids"]):
        bad = 1
        print("# consumptions: %d identifiers consumed, %d in the history"
              % (len(S["consumed"]), len(X["usage_ids"])))
        show("consumed more than once:", twice)
    bad |= diff("deliveries", R["deliveries"], S["deliveries"])
    bad |= diff("quarantine", R["quarantine"], S["quarantine"])
    def tail(p, o):
        with open(p, "rb") as f:
            f.seek(o)
            return f.read()
    short = [(p, o, os.path.getsize(p)) for p, o in S["cursors"] if tail(p, o).strip()]
    if short or len(S["cursors"]) != 2:
        bad = 1
        print("# cursors: %s" % json.dumps(S["cursors"]))
    return bad

if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    sys.exit({"progress": progress, "snap": snap, "ledger": ledger, "once": once}[cmd](*args))
EOF
mirror() { "$PYTHON3" "$tmp/mirror.py" "$@"; }

now_ms() { "$PYTHON3" -c 'import time; print(int(time.monotonic() * 1000))'; }

echo "1..$((2 + 3 * ROUNDS + 1))"
echo "# crash seed $SEED; $CUSTOMERS customers, $MONTHS months; $ROUNDS rounds of $KILLS kills"

# --- the history and the uninterrupted reference ------------------------------

t0=$SECONDS
"$PYTHON3" "$GEN" --seed 4242 --customers "$CUSTOMERS" --months "$MONTHS" --secret "$SECRET" \
    --out-dir "$tmp/h" >"$tmp/gen.out" 2>&1
st=$?
report "generate the history ($((SECONDS - t0)) s): $(head -c 200 "$tmp/gen.out")" $st "$tmp/gen.out"
[ $st = 0 ] || { echo "Bail out! cannot generate the history"; exit 1; }
TALLY_NOW=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1]))["now"])' "$tmp/h/expected.json")
export TALLY_NOW
TOTAL=$(( $(stat -c %s "$tmp/h/webhooks.log") + $(stat -c %s "$tmp/h/usage.log") ))

ingest_args=(--catalog "$CATALOG" ingest --webhooks "$tmp/h/webhooks.log" --usage "$tmp/h/usage.log")
t0=$(now_ms)
"$TALLY" --db "$tmp/ref.db" "${ingest_args[@]}" >"$tmp/ref.out" 2>&1
st=$?
D=$(( $(now_ms) - t0 ))
[ $st = 0 ] && { mirror snap "$TALLY" "$CATALOG" "$tmp/ref.db" "$tmp/ref.json" >>"$tmp/ref.out" 2>&1 || st=1; }
report "uninterrupted ingest of $TOTAL bytes exits 0 (${D} ms)" $st "$tmp/ref.out"
[ $st = 0 ] || { echo "Bail out! the reference ingest failed"; exit 1; }

# --- rounds of kills -----------------------------------------------------------

# Delays (ms) for every attempt of every round: most below D / KILLS, some
# up to D / 3 (to get past a few commits and kill further on), some very
# short (to land while tally opens the mirror or recovers it).
"$PYTHON3" - "$SEED" "$D" "$KILLS" "$ROUNDS" >"$tmp/delays" <<'EOF'
import random, sys
seed, d, kills, rounds = map(int, sys.argv[1:])
r = random.Random(seed)
for _ in range(rounds * kills * 4):
    x = r.random()
    top = 40 if x < 0.15 else max(40, d // 3) if x < 0.4 else max(40, d // kills)
    print(r.randrange(0, top))
EOF
mapfile -t DELAYS <"$tmp/delays"
di=0
landed_total=0
mid_total=0

for round in $(seq 1 "$ROUNDS"); do
	db="$tmp/r$round.db"
	landed=0 mid=0 attempts=0 st=0
	points=""
	: >"$tmp/r$round.log"
	t0=$SECONDS
	while :; do
		attempts=$((attempts + 1))
		if [ $landed -ge "$KILLS" ]; then
			"$TALLY" --db "$db" "${ingest_args[@]}" >>"$tmp/r$round.log" 2>&1
			rc=$?
		else
			"$TALLY" --db "$db" "${ingest_args[@]}" >>"$tmp/r$round.log" 2>&1 &
			pid=$!
			ms=${DELAYS[$((di % ${#DELAYS[@]}))]}
			di=$((di + 1))
			sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
			kill -KILL "$pid" 2>/dev/null
			{ wait "$pid"; } 2>/dev/null
			rc=$?
			pid=
		fi
		if [ $rc = 137 ]; then
			landed=$((landed + 1))
			read -r done_bytes state < <(mirror progress "$db" "$TOTAL")
			points="$points $done_bytes"
			[ "$state" = finished ] || mid=$((mid + 1))
			echo "kill $landed after ${ms} ms: $done_bytes bytes committed ($state)" >>"$tmp/r$round.log"
			continue
		fi
		[ $rc = 0 ] || st=$rc
		break
	done
	landed_total=$((landed_total + landed))
	mid_total=$((mid_total + mid))
	echo "# round $round: $landed kills landed ($mid mid-ingest) in $attempts runs;" \
	    "bytes committed at each:$points"
	report "round $round: the ingest completes after $landed kills ($((SECONDS - t0)) s)" $st "$tmp/r$round.log"
	if [ $st != 0 ]; then
		# Keep the plan: the two checks of this round fail too.
		report "round $round: ledger and balances as without kills" 1
		report "round $round: events, deliveries, usage once each, as without kills" 1
		continue
	fi
	mirror snap "$TALLY" "$CATALOG" "$db" "$tmp/r$round.json" >"$tmp/diag" 2>&1 &&
		mirror ledger "$tmp/ref.json" "$tmp/r$round.json" >>"$tmp/diag" 2>&1
	report "round $round: ledger and balances as without kills; cached balances equal ledger sums" $? "$tmp/diag"
	mirror once "$tmp/ref.json" "$tmp/r$round.json" "$tmp/h/expected.json" >"$tmp/diag" 2>&1
	report "round $round: every event id once with its delivery count, every usage identifier once with its repeats and one consumption, same deliveries, cursors at the ends" $? "$tmp/diag"
	[ "${KEEP:-0}" = 1 ] || rm -f "$db" "$db-wal" "$db-shm"
done

echo "# kills landed: $landed_total, of which mid-ingest (work left): $mid_total"
st=0
[ $mid_total -gt 0 ] || st=1
echo "no kill landed while tally still had work to do (D = ${D} ms)" >"$tmp/diag"
report "kills landed mid-ingest: $mid_total of $landed_total (must be > 0)" $st "$tmp/diag"
