#!/bin/bash
# make bench: SPEC 12's budgets, measured on a generated mirror (doc/bench.md).
#
# Builds the demo mirror (tally demo) of BENCH_CUSTOMERS customers over
# BENCH_MONTHS months (10,000 and 6: about 1,000,000 ledger entries), then
# measures, each step writing a JSON file into the work directory:
#
#   ingest    `tally ingest` of the demo's webhook and usage logs into a new
#             mirror; against it the floor (bench-floor: the same rows, plain
#             prepared INSERTs, one transaction) and a python3 script doing
#             the same ingestion with the standard library
#             (ingest_baseline.py), each on its own new mirror;
#   console   the console driven headless (console.py) on the demo mirror and
#             on a small one (about 10,000 entries): first screen, each key to
#             its redrawn screen, peak memory;
#   drift     `tally drift` over the demo mirror, and bench-recheck (one
#             customer's rules re-checked, 200 customers);
#   sync      `tally sync --once --reconcile` of a small demo against the fake
#             Stripe (tests/lib/fake_stripe.py) at BENCH_SYNC_RATE requests a
#             second, the rate read back from the fake's request log;
#
# then report.py prints every line with its budget and MET / NOT MET.  Each
# ratio's baseline is measured in the same run, one step after the other.
#
# Environment: TALLY, SRCDIR, BUILDDIR, PYTHON3 (set by make bench);
# BENCH_CUSTOMERS (10000), BENCH_MONTHS (6), BENCH_SEED (1),
# BENCH_SYNC_RATE (20), BENCH_SMALL_CUSTOMERS (100: the small mirror),
# BENCH_SYNC_CUSTOMERS (300: the sync's demo), BENCH_DIR (the work
# directory, default BUILDDIR/bench-work, emptied first), BENCH_KEEP=1 keeps
# the mirrors (several GB at 10,000 customers), BENCH_PYTHON_SECONDS (0:
# the python3 baseline runs to the end, about 7 of the bench's 15 minutes at
# 10,000 customers; N stops it after N seconds, and its line is then shown
# but not judged), BENCH_SKIP_PYTHON=1 skips it.
set -u
TALLY=${TALLY:-$PWD/tally}
SRCDIR=${SRCDIR:-.}
BUILDDIR=${BUILDDIR:-.}
PYTHON3=${PYTHON3:-python3}
# The interpreter itself, not a version manager's shim (which costs a third
# of a second a call).
PYTHON3=$("$PYTHON3" -c 'import sys; print(sys.executable)' 2>/dev/null) || PYTHON3=python3
CUSTOMERS=${BENCH_CUSTOMERS:-10000}
MONTHS=${BENCH_MONTHS:-6}
SEED=${BENCH_SEED:-1}
RATE=${BENCH_SYNC_RATE:-20}
SMALL=${BENCH_SMALL_CUSTOMERS:-100}
SYNC_CUSTOMERS=${BENCH_SYNC_CUSTOMERS:-300}
WORK=${BENCH_DIR:-$BUILDDIR/bench-work}
FLOOR=$BUILDDIR/bench/bench-floor
RECHECK=$BUILDDIR/bench/bench-recheck
B=$SRCDIR/bench
# The cache the floor gets: the one `tally ingest` runs a bulk load with
# (src/core/ingest.c, BULK_CACHE), so both write with the same memory.
FLOOR_CACHE_KIB=262144

fakepid=
cleanup() {
	[ -n "$fakepid" ] && kill "$fakepid" 2>/dev/null && wait "$fakepid" 2>/dev/null
	if [ "${BENCH_KEEP:-0}" != 1 ]; then
		rm -f "$WORK"/*.db "$WORK"/*.db-wal "$WORK"/*.db-shm
		rm -rf "$WORK/demo.d" "$WORK/small.d" "$WORK/sync.d" "$WORK/sync-run"
	fi
}
trap cleanup EXIT

die() { echo "bench: $*" >&2; exit 1; }
step() { echo "bench: $(date +%H:%M:%S) $*" >&2; }
measure() { "$PYTHON3" "$B/measure.py" "$@"; }

for f in "$TALLY" "$FLOOR" "$RECHECK"; do
	[ -x "$f" ] || die "$f is not built (run make bench)"
done
rm -rf "$WORK"
mkdir -p "$WORK" || die "cannot create $WORK"
WORK=$(cd "$WORK" && pwd)
export HOME="$WORK/home" XDG_DATA_HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home" TZ=UTC
mkdir -p "$HOME"
unset STRIPE_API_KEY STRIPE_API_KEY_FILE STRIPE_API_BASE STRIPE_WEBHOOK_SECRET TALLY_DB \
	TALLY_CATALOG TALLY_NOW TALLY_CONFIG
cat >"$WORK/params.json" <<EOF
{"customers": $CUSTOMERS, "months": $MONTHS, "seed": $SEED, "sync_rate": $RATE,
 "small_customers": $SMALL, "sync_customers": $SYNC_CUSTOMERS, "floor_cache_kib": $FLOOR_CACHE_KIB,
 "cpus": $(nproc), "load": "$(cut -d' ' -f1-3 /proc/loadavg)"}
EOF

# jget FILE KEY...: one value of a JSON file
jget() { "$PYTHON3" -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[k]
print(v)' "$@"; }

# --- the mirror ---------------------------------------------------------------
step "tally demo --customers $CUSTOMERS --months $MONTHS (the mirror and its logs)"
measure --out "$WORK/demo.measure.json" --stdout "$WORK/demo.json" -- \
	"$TALLY" --json demo --seed "$SEED" --customers "$CUSTOMERS" --months "$MONTHS" \
	--out "$WORK/demo.db" || die "tally demo failed"
[ "$(jget "$WORK/demo.measure.json" status)" = 0 ] || die "tally demo failed"
NOW=$(jget "$WORK/demo.json" now)
D=$WORK/demo.d
SECRET=$(sed -n 's/^webhook_secret = //p' "$D/tally.conf")
export TALLY_NOW=$NOW

# --- ingest -------------------------------------------------------------------
step "tally ingest of the demo's logs into a new mirror"
STRIPE_WEBHOOK_SECRET=$SECRET measure --out "$WORK/ingest.measure.json" --stdout "$WORK/ingest.json" -- \
	"$TALLY" --db "$WORK/ingest.db" --catalog "$D/catalog.json" --json \
	ingest --webhooks "$D/webhooks.log" --usage "$D/usage.log" || die "tally ingest failed"
[ "$(jget "$WORK/ingest.measure.json" status)" = 0 ] || die "tally ingest failed"

step "floor: the same rows, plain INSERTs in one transaction"
measure --out "$WORK/floor.measure.json" --stdout "$WORK/floor.json" -- \
	"$FLOOR" "$WORK/ingest.db" "$WORK/floor.db" "$FLOOR_CACHE_KIB" || die "bench-floor failed"
rm -f "$WORK/floor.db" "$WORK/floor.db-wal" "$WORK/floor.db-shm"

if [ "${BENCH_SKIP_PYTHON:-0}" != 1 ]; then
	step "python3 baseline: the same ingestion with the standard library"
	cap=${BENCH_PYTHON_SECONDS:-0}
	[ "$cap" -gt 0 ] 2>/dev/null && cap="--max-seconds $cap" || cap=
	# shellcheck disable=SC2086
	BENCH_NOW=$NOW measure --out "$WORK/python.measure.json" --stdout "$WORK/python.json" -- \
		"$PYTHON3" "$B/ingest_baseline.py" $cap --db "$WORK/python.db" --schema "$SRCDIR/data/schema" \
		--catalog "$D/catalog.json" --secret "$SECRET" \
		--webhooks "$D/webhooks.log" --usage "$D/usage.log" || die "the python3 baseline failed"
	rm -f "$WORK/python.db" "$WORK/python.db-wal" "$WORK/python.db-shm"
fi
rm -f "$WORK/ingest.db" "$WORK/ingest.db-wal" "$WORK/ingest.db-shm"

# --- console ------------------------------------------------------------------
step "console on the demo mirror"
"$PYTHON3" "$B/console.py" --tally "$TALLY" --db "$WORK/demo.db" --catalog "$D/catalog.json" \
	>"$WORK/console.json" || echo "bench: the console could not be driven on the demo mirror" >&2
step "tally demo --customers $SMALL (a small mirror) and the console on it"
"$TALLY" --json demo --seed "$SEED" --customers "$SMALL" --months "$MONTHS" \
	--out "$WORK/small.db" >"$WORK/small.json" || die "tally demo (small) failed"
"$PYTHON3" "$B/console.py" --tally "$TALLY" --db "$WORK/small.db" \
	--catalog "$WORK/small.d/catalog.json" >"$WORK/console-small.json" ||
	echo "bench: the console could not be driven on the small mirror" >&2

# --- drift --------------------------------------------------------------------
step "tally drift over the demo mirror"
measure --out "$WORK/drift.measure.json" --stdout "$WORK/drift.json" -- \
	"$TALLY" --db "$WORK/demo.db" --catalog "$D/catalog.json" --json drift
step "one customer's rules re-checked (bench-recheck)"
"$RECHECK" "$WORK/demo.db" "$D/catalog.json" 200 >"$WORK/recheck.json" ||
	echo "bench: bench-recheck failed" >&2

# --- sync ---------------------------------------------------------------------
step "tally sync against the fake Stripe at $RATE requests a second"
"$TALLY" --json demo --seed "$SEED" --customers "$SYNC_CUSTOMERS" --months "$MONTHS" \
	--out "$WORK/sync.db" >"$WORK/sync-demo.json" || die "tally demo (sync) failed"
S=$WORK/sync-run
mkdir -p "$S"
cp "$WORK/sync.d/state.json" "$S/state.json"
"$PYTHON3" "$SRCDIR/tests/lib/fake_stripe.py" --state "$S" --port-file "$S/port" 2>"$S/fake.err" &
fakepid=$!
for _ in $(seq 300); do
	[ -s "$S/port" ] && break
	sleep 0.1
done
[ -s "$S/port" ] || die "the fake Stripe did not start: $(cat "$S/fake.err")"
sed -e "s|^db = .*|db = $WORK/sync.db|" "$WORK/sync.d/tally.conf" >"$S/tally.conf"
echo "rate_limit = $RATE" >>"$S/tally.conf"
STRIPE_API_KEY=sk_test_tally_demo_0000000000 STRIPE_API_BASE="http://127.0.0.1:$(cat "$S/port")" \
	measure --out "$WORK/sync.measure.json" --stdout "$WORK/sync.json" -- \
	"$TALLY" --config "$S/tally.conf" --json sync --once --reconcile
kill "$fakepid" 2>/dev/null
wait "$fakepid" 2>/dev/null
fakepid=
"$PYTHON3" "$B/sync_rate.py" "$S/requests.jsonl" "$RATE" >"$WORK/sync-rate.json" ||
	echo "bench: no request log from the fake Stripe" >&2

# --- the report -----------------------------------------------------------------
"$PYTHON3" "$B/report.py" "$WORK" | tee "$WORK/report.txt"
