#!/bin/bash
# Disk full (TAP): writes to the mirror start failing in the middle of an
# ingest (a file size limit, which makes write(2) fail with EFBIG as a full
# disk fails with ENOSPC).  tally must stop with a clear error (exit 3, the
# mirror named, what to check), leave nothing half-written (every committed
# batch whole, the cache equal to the ledger, SQLite's integrity check
# clean), and, once there is room again, resume and reach exactly the
# ledger the history implies.
#
# Environment: TALLY, SRCDIR, PYTHON3 (set by make check).
set -u
. "${SRCDIR:-.}/tests/lib/tap.sh"
tap_setup diskfull

"$PYTHON3" "$GEN" --seed 7 --customers 60 --months 6 \
    --out-dir "$tmp" --quiet || exit 1
export TALLY_NOW=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1]))["now"])' \
    "$tmp/expected.json")
echo "1..7"

# ingest under a file size limit of LIMIT KiB; SIGXFSZ ignored so the write
# fails with EFBIG instead of killing the process
limited() {
	local limit=$1
	shift
	(trap '' XFSZ; ulimit -f "$limit"; exec "$TALLY" --db "$tmp/m.db" --catalog "$CATALOG" "$@")
}
limited 8000 ingest --webhooks "$tmp/webhooks.log" --usage "$tmp/usage.log" \
    >"$tmp/full.out" 2>"$tmp/full.err"
rc=$?
[ "$rc" = 3 ]
report "ingest on a full disk exits 3 (got $rc)" $? "$tmp/full.err"
grep -q 'm.db' "$tmp/full.err" && grep -q 'disk full' "$tmp/full.err"
report "the error names the mirror and says what to check" $? "$tmp/full.err"
echo "# $(head -1 "$tmp/full.err")"

"$PYTHON3" - "$tmp/m.db" >"$tmp/diag" 2>&1 <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
ok = c.execute("PRAGMA integrity_check").fetchone()[0]
bad = [r for r in c.execute("SELECT b.customer, b.balance, (SELECT SUM(amount) FROM ledger l "
       "WHERE l.customer = b.customer) FROM balances b") if r[1] != r[2]]
n = c.execute("SELECT count(*) FROM ledger").fetchone()[0]
print("integrity: %s; %d ledger entries committed; %d cached balances off" % (ok, n, len(bad)))
sys.exit(0 if ok == "ok" and not bad and n > 0 else 1)
PY
report "it failed in the middle, and what was committed is whole: integrity ok, every cached balance = its ledger sum" \
    $? "$tmp/diag"
echo "# $(cat "$tmp/diag")"

limited 8000 ingest --webhooks "$tmp/webhooks.log" --usage "$tmp/usage.log" \
    >"$tmp/full2.out" 2>"$tmp/full2.err"
[ $? = 3 ]
report "a second try while still full fails the same way, and changes nothing it should not" $? \
    "$tmp/full2.err"

"$TALLY" --db "$tmp/m.db" --catalog "$CATALOG" ingest --webhooks "$tmp/webhooks.log" \
    --usage "$tmp/usage.log" >"$tmp/ok.out" 2>"$tmp/ok.err"
report "with room again, the ingest resumes and finishes" $? "$tmp/ok.err"
: >"$tmp/diag"
"$PYTHON3" "$MIRROR" snap "$tmp/m.db" "$tmp/m.json" >>"$tmp/diag" 2>&1 &&
"$PYTHON3" "$MIRROR" oracle "$tmp/m.json" "$tmp/expected.json" >>"$tmp/diag" 2>&1
report "and the ledger is exactly the one the history implies (nothing lost, nothing doubled)" \
    $? "$tmp/diag"
"$PYTHON3" "$MIRROR" cache "$tmp/m.json" >"$tmp/diag" 2>&1
report "every cached balance equals its ledger sum" $? "$tmp/diag"
