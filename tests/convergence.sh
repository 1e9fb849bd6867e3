#!/bin/bash
# Convergence (TAP): the ledger is a function of the billing history, not of
# how tally happened to read it.  One generated history (tests/lib/
# stripe_events.py) is ingested
#   (a) once, in the order it was received;
#   (b) again (the second ingest changes nothing), and from a copy of the same
#       bytes under another name (read from 0: every value a repeat);
#   (c) from a shuffled copy (webhook entries and usage lines);
#   (d) with every webhook entry and usage line written twice;
#   (e) from N more shuffled copies, each order from its own seed (every
#       other one with everything written twice);
#   (f) cut into several files, ingested in one run in different file
#       orders, and in separate runs in reverse order;
#   (g) a second history in which invoices are paid in the second they are
#       finalized (--same-second: invoice.finalized and invoice.paid share
#       `created`), in the order received and reversed: the paid state must
#       win in both orders, so each mirror's ledger is what that history
#       implies, with no conflict, and the two are the same;
# and every mirror must hold the same ledger (the set of (customer, key, kind,
# amount, effective_at, expires_at)) and the same balances as (a), with every
# cached balance equal to its ledger sum.  Run (a) is also checked against
# what the generator says the history implies (every grant, top-up,
# consumption and clawback, with its amount and times) and the command line's
# ledger and balance against the mirror.
#
# Separate runs write the expiries due at the end of each run; an entry read
# by a later run that lands before one of them re-settles the grant with a
# correcting expiry (expire:<grant>:<n>).  So for (f)'s separate runs the
# expiries are compared per grant (their sum and time), everything else
# exactly.
#
# Environment: TALLY, SRCDIR, PYTHON3 (set by make check); CONVERGENCE_SEED
# (history, default 20251124), CONVERGENCE_ORDER_SEEDS (the N order seeds of
# (e), default 20 random ones, printed), CONVERGENCE_CUSTOMERS (30),
# CONVERGENCE_MONTHS (6), KEEP=1 keeps the work directory.
set -u
. "${SRCDIR:-.}/tests/lib/tap.sh"
tap_setup convergence
SEED=${CONVERGENCE_SEED:-20251124}
CUSTOMERS=${CONVERGENCE_CUSTOMERS:-30}
MONTHS=${CONVERGENCE_MONTHS:-6}
SECRET=whsec_convergence_test_secret
if [ -n "${CONVERGENCE_ORDER_SEEDS:-}" ]; then
	read -r -a ORDER_SEEDS <<< "$CONVERGENCE_ORDER_SEEDS"
else
	read -r -a ORDER_SEEDS <<< "$("$PYTHON3" -c \
	    'import random; r = random.SystemRandom(); print(" ".join(str(r.randrange(1, 2**31)) for _ in range(20)))')"
fi
NPARTS=4

export STRIPE_WEBHOOK_SECRET="$SECRET"

# --- helpers ---------------------------------------------------------------


mirror() { "$PYTHON3" "$MIRROR" "$@"; }

# copydb FROM TO: a mirror and its WAL, if any
copydb() {
	local x
	for x in "" -wal -shm; do
		rm -f "$2$x"
		[ -f "$1$x" ] && cp "$1$x" "$2$x"
	done
	return 0
}

# ingest NAME DIR [ingest args]: ingest into $tmp/NAME.db; output in $tmp/NAME.out
ingest() {
	local name=$1 dir=$2
	shift 2
	(cd "$dir" && "$TALLY" --db "$tmp/$name.db" --catalog "$CATALOG" ingest --json "$@") \
		>"$tmp/$name.out" 2>"$tmp/$name.err"
}

# one check for a run: it exits 0, and its mirror matches (a) with its
# cached balances equal to its ledger sums
converges() {
	local name=$1 desc=$2 rc=$3
	shift 3
	local st=0
	: >"$tmp/diag"
	if [ "$rc" != 0 ]; then
		st=1
		echo "ingest exited $rc" >>"$tmp/diag"
		cat "$tmp/$name.err" >>"$tmp/diag"
	else
		mirror check "$tmp/$name.db" "$tmp/$name.json" "$tmp/a.json" "$@" >>"$tmp/diag" 2>&1 || st=1
	fi
	report "$desc" "$st" "$tmp/diag"
}

json_field() {
	"$PYTHON3" -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$@"
}

echo "1..$((13 + ${#ORDER_SEEDS[@]} + 4 + 4))"
echo "# history seed $SEED ($CUSTOMERS customers, $MONTHS months); order seeds: ${ORDER_SEEDS[*]}"

# --- the history -----------------------------------------------------------

t0=$SECONDS
# One process renders the history once and writes every ordering of it.
"$PYTHON3" - "$GEN" "$tmp" "$SEED" "$CUSTOMERS" "$MONTHS" "$SECRET" "$NPARTS" \
    "${ORDER_SEEDS[@]}" >"$tmp/gen.err" 2>&1 <<'EOF'
import importlib.util, sys
sys.dont_write_bytecode = True          # no __pycache__ in the source tree
gen, tmp, seed, customers, months, secret, parts = sys.argv[1:8]
order_seeds = [int(s) for s in sys.argv[8:]]
spec = importlib.util.spec_from_file_location("stripe_events", gen)
se = importlib.util.module_from_spec(spec)
spec.loader.exec_module(se)
h = se.generate(se.Options(seed=int(seed), customers=int(customers), months=int(months),
                           upcoming=True))
r = se.render(h, secret)
se.write_rendered(h, r, tmp + "/a")
se.write_rendered(h, r, tmp + "/c", shuffle=True, order_seed=1)
se.write_rendered(h, r, tmp + "/d", duplicate_all=True, order_seed=2)
for i, s in enumerate(order_seeds):
    se.write_rendered(h, r, "%s/e-%d" % (tmp, s), shuffle=True, duplicate_all=i % 2 == 1,
                      order_seed=s)
se.write_rendered(h, r, tmp + "/f", parts=int(parts))
EOF
st=$?
# The same seed makes the same bytes (the CLI, in a fresh process).
if [ $st = 0 ]; then
	"$PYTHON3" "$GEN" --seed "$SEED" --customers "$CUSTOMERS" --months "$MONTHS" --upcoming \
	    --secret "$SECRET" --out-dir "$tmp/again" --quiet >>"$tmp/gen.err" 2>&1 || st=1
	for f in webhooks.log usage.log expected.json; do
		cmp -s "$tmp/a/$f" "$tmp/again/$f" || { st=1; echo "$f differs between two runs of seed $SEED" >>"$tmp/gen.err"; }
	done
fi
report "the generator writes the history, the same bytes for the same seed ($((SECONDS - t0)) s)" "$st" "$tmp/gen.err"
if [ $st != 0 ]; then
	echo "Bail out! cannot generate the history"
	exit 1
fi
NOW=$(json_field "$tmp/a/expected.json" now)
export TALLY_NOW=$NOW
echo "# $(json_field "$tmp/a/expected.json" counts), TALLY_NOW=$NOW"

# --- (a) once ----------------------------------------------------------------

t0=$SECONDS
ingest a "$tmp/a" --webhooks webhooks.log --usage usage.log
rc=$?
st=$rc
: >"$tmp/diag"
if [ $rc = 0 ]; then
	mirror snap "$tmp/a.db" "$tmp/a.json" >"$tmp/diag" 2>&1 || st=1
else
	cat "$tmp/a.err" >"$tmp/diag"
fi
report "(a) ingest of the history exits 0 ($((SECONDS - t0)) s)" "$st" "$tmp/diag"
if [ $st != 0 ]; then
	echo "Bail out! the reference ingest failed"
	exit 1
fi

# Its counts: every value read, none set aside, no signature failed.
"$PYTHON3" - "$tmp/a.out" "$tmp/a/expected.json" >"$tmp/diag" 2>&1 <<'EOF'
import json, sys
o, x = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
bad = []
w, u = o["webhooks"], o["usage"]
if w["values"] != x["counts"]["webhook_entries"]:
    bad.append("webhook values read %d, written %d" % (w["values"], x["counts"]["webhook_entries"]))
if u["values"] != x["counts"]["usage_entries"]:
    bad.append("usage values read %d, written %d" % (u["values"], x["counts"]["usage_entries"]))
if u["applied"] != x["counts"]["usage_identifiers"]:
    bad.append("usage applied %d, identifiers %d" % (u["applied"], x["counts"]["usage_identifiers"]))
if u["duplicate"] != x["counts"]["usage_entries"] - x["counts"]["usage_identifiers"]:
    bad.append("usage duplicates %d, repeated lines %d" % (
        u["duplicate"], x["counts"]["usage_entries"] - x["counts"]["usage_identifiers"]))
for k in ("quarantined", "invalid_signature", "unverified", "conflict", "pending_bytes", "unpriced"):
    if w[k] or u[k]:
        bad.append("%s: webhooks %d, usage %d" % (k, w[k], u[k]))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF
report "(a) ingest counts: every value read, repeats counted, nothing quarantined or unverified" $? "$tmp/diag"

mirror oracle "$tmp/a.json" "$tmp/a/expected.json" >"$tmp/diag" 2>&1
report "(a) ledger holds exactly the grants, top-ups, consumptions and clawbacks the history implies; due credits expired" $? "$tmp/diag"

mirror cache "$tmp/a.json" >"$tmp/diag" 2>&1
report "(a) cached balance equals the ledger sum for every customer" $? "$tmp/diag"

mirror cli "$TALLY" "$tmp/a.db" "$CATALOG" "$tmp/a.json" >"$tmp/diag" 2>&1
report "(a) tally customers/ledger/balance --json show what the mirror holds" $? "$tmp/diag"

# --- (b) again -------------------------------------------------------------

copydb "$tmp/a.db" "$tmp/b.db"
ingest b "$tmp/a" --webhooks webhooks.log --usage usage.log
rc=$?
converges b "(b) a second ingest of the same files converges" $rc
st=0
[ "$(json_field "$tmp/b.out" ledger_entries 2>/dev/null)" = 0 ] || st=1
[ "$(json_field "$tmp/b.out" webhooks.values 2>/dev/null)" = 0 ] || st=1
echo "ingest said: $(tr -d ' \n' <"$tmp/b.out" | head -c 600)" >"$tmp/diag"
report "(b) ... and reads nothing new and appends no entry" $st "$tmp/diag"

# The same bytes under another name are read from the start: all repeats.
mkdir -p "$tmp/b2"
cp "$tmp/a/webhooks.log" "$tmp/b2/webhooks-copy.log"
cp "$tmp/a/usage.log" "$tmp/b2/usage-copy.log"
copydb "$tmp/a.db" "$tmp/b2.db"
ingest b2 "$tmp/b2" --webhooks webhooks-copy.log --usage usage-copy.log
rc=$?
converges b2 "(b) re-reading a copy of the logs from the start converges" $rc
"$PYTHON3" - "$tmp/b2.out" "$tmp/a/expected.json" >"$tmp/diag" 2>&1 <<'EOF'
import json, sys
o, x = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
bad = []
if o["ledger_entries"] != 0:
    bad.append("%d ledger entries appended" % o["ledger_entries"])
if o["usage"]["applied"] != 0 or o["usage"]["duplicate"] != x["counts"]["usage_entries"]:
    bad.append("usage: %d applied, %d duplicate of %d lines" % (
        o["usage"]["applied"], o["usage"]["duplicate"], x["counts"]["usage_entries"]))
w = o["webhooks"]
if w["applied"] != 0 or w["values"] != x["counts"]["webhook_entries"]:
    bad.append("webhooks: %d applied of %d values" % (w["applied"], w["values"]))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF
report "(b) ... every value of the copy is a repeat and no entry is appended" $? "$tmp/diag"

# --- (c) shuffled, (d) everything twice -------------------------------------

t0=$SECONDS
ingest c "$tmp/c" --webhooks webhooks.log --usage usage.log
converges c "(c) a shuffled copy converges ($((SECONDS - t0)) s)" $?

t0=$SECONDS
ingest d "$tmp/d" --webhooks webhooks.log --usage usage.log
rc=$?
converges d "(d) every webhook entry and usage line twice converges ($((SECONDS - t0)) s)" $rc
st=0
du=$(json_field "$tmp/d.out" usage.duplicate 2>/dev/null)
ul=$(json_field "$tmp/d/expected.json" counts.usage_entries)
ui=$(json_field "$tmp/d/expected.json" counts.usage_identifiers)
[ "$du" = $((ul - ui)) ] || st=1
echo "usage duplicates counted: $du, expected $((ul - ui))" >"$tmp/diag"
report "(d) ... and every repeated usage line is counted as a duplicate" $st "$tmp/diag"

# --- (e) property: many shuffled orders -----------------------------------

i=0
for s in "${ORDER_SEEDS[@]}"; do
	t0=$SECONDS
	what="shuffled"
	[ $((i % 2)) = 1 ] && what="everything twice, shuffled"
	i=$((i + 1))
	ingest "e-$s" "$tmp/e-$s" --webhooks webhooks.log --usage usage.log
	converges "e-$s" "(e) $what, order seed $s, converges ($((SECONDS - t0)) s)" $?
	[ "${KEEP:-0}" = 1 ] || rm -f "$tmp/e-$s.db"
done

# --- (f) cut into files ------------------------------------------------------

read -r -a parts <<< "$(seq -s ' ' 1 $NPARTS)"
read -r -a rev <<< "$(seq -s ' ' $NPARTS -1 1)"
read -r -a mixed <<< "$("$PYTHON3" -c "import random; l = list(range(1, $NPARTS + 1)); random.Random(5).shuffle(l); print(*l)")"
files() { local p; for p in "${@:2}"; do printf '%s-%s.log\n' "$1" "$p"; done; }
mapfile -t w_rev < <(files webhooks "${rev[@]}")
mapfile -t w_mixed < <(files webhooks "${mixed[@]}")
mapfile -t u_rev < <(files usage "${rev[@]}")
mapfile -t u_mixed < <(files usage "${mixed[@]}")

ingest f1 "$tmp/f" --webhooks "${w_rev[@]}" --usage "${u_mixed[@]}"
converges f1 "(f) $NPARTS files each, in one run, webhooks in reverse order, usage mixed (${mixed[*]})" $?

ingest f2 "$tmp/f" --usage "${u_rev[@]}" --webhooks "${w_mixed[@]}"
converges f2 "(f) $NPARTS files each, in one run, usage first (reverse), webhooks mixed" $?

# Separate runs, later parts first, usage before the webhooks it spends.
st=0
: >"$tmp/f3.log"
for p in "${rev[@]}"; do
	ingest f3 "$tmp/f" --usage "usage-$p.log" || { st=$?; cat "$tmp/f3.err" >>"$tmp/f3.log"; }
done
for p in "${rev[@]}"; do
	ingest f3 "$tmp/f" --webhooks "webhooks-$p.log" || { st=$?; cat "$tmp/f3.err" >>"$tmp/f3.log"; }
done
cp "$tmp/f3.log" "$tmp/f3.err"
converges f3 "(f) $NPARTS files each, one run per file, last first, usage before webhooks (expiries compared per grant)" $st --net-expiry

# Separate runs in the natural order, with the expiries of each run written
# before the next: the same ledger up to correcting expiries.
st=0
: >"$tmp/f4.log"
for p in "${parts[@]}"; do
	ingest f4 "$tmp/f" --webhooks "webhooks-$p.log" --usage "usage-$p.log" || { st=$?; cat "$tmp/f4.err" >>"$tmp/f4.log"; }
done
cp "$tmp/f4.log" "$tmp/f4.err"
converges f4 "(f) $NPARTS files each, one run per pair, in order (expiries compared per grant)" $st --net-expiry

# --- (g) same-second invoice states --------------------------------------------

# The paid state wins a same-second tie with the open one, whichever
# arrives first: no conflict, no grant left waiting for a refetch.
"$PYTHON3" - "$GEN" "$tmp" "$SEED" "$CUSTOMERS" "$MONTHS" "$SECRET" >"$tmp/gen-g.err" 2>&1 <<'EOF'
import importlib.util, sys
sys.dont_write_bytecode = True
gen, tmp, seed, customers, months, secret = sys.argv[1:7]
spec = importlib.util.spec_from_file_location("stripe_events", gen)
se = importlib.util.module_from_spec(spec)
spec.loader.exec_module(se)
h = se.generate(se.Options(seed=int(seed) + 1, customers=int(customers), months=int(months),
                           same_second=True))
ties = {}
for ev in h.events:
    if ev["type"] in ("invoice.finalized", "invoice.paid"):
        ties.setdefault((ev["data"]["object"]["id"], ev["created"]), set()).add(ev["type"])
n = sum(1 for t in ties.values() if len(t) == 2)
if n == 0:
    sys.exit("the same-second history has no invoice finalized and paid in one second")
print("%d invoices finalized and paid in the same second" % n)
r = se.render(h, secret)
se.write_rendered(h, r, tmp + "/g1")
se.write_rendered(h, (r[0][::-1], r[1][::-1]), tmp + "/g2")
EOF
st=$?
report "(g) the generator writes a same-second history ($(tail -1 "$tmp/gen-g.err"))" $st "$tmp/gen-g.err"
if [ $st = 0 ]; then
	TALLY_NOW=$(json_field "$tmp/g1/expected.json" now)
	export TALLY_NOW
	for g in g1 g2; do
		what="in the order received"
		[ $g = g2 ] && what="in reverse order"
		ingest $g "$tmp/$g" --webhooks webhooks.log --usage usage.log
		rc=$?
		st=$rc
		: >"$tmp/diag"
		if [ $rc = 0 ]; then
			{ mirror snap "$tmp/$g.db" "$tmp/$g.json" &&
			  mirror oracle "$tmp/$g.json" "$tmp/$g/expected.json"; } >>"$tmp/diag" 2>&1 || st=1
		else
			echo "ingest exited $rc" >"$tmp/diag"
			cat "$tmp/$g.err" >>"$tmp/diag"
		fi
		report "(g) same-second history $what: the ledger is what it implies, no conflict" $st "$tmp/diag"
	done
	mirror compare "$tmp/g1.json" "$tmp/g2.json" >"$tmp/diag" 2>&1
	report "(g) ... and the two orders leave the same ledger" $? "$tmp/diag"
else
	for i in 1 2 3; do report "(g) skipped: no same-second history ($i)" 1; done
fi
