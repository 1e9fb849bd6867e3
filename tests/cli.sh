#!/bin/bash
# Command-line behaviour (TAP): exit codes, usage errors that name the flag,
# unknown commands, a missing mirror, text from outside made inert before it
# reaches the terminal, and JSON shapes promised by doc/formats.md.
set -u
TALLY=${TALLY:-$PWD/tally}
SRCDIR=${SRCDIR:-.}
PYTHON3=${PYTHON3:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp" TALLY_CONFIG=/dev/null TALLY_NOW=1763500000
unset STRIPE_WEBHOOK_SECRET STRIPE_API_KEY TALLY_DB TALLY_CATALOG
cat="$SRCDIR/data/catalog.example.json"
n=0
check() {       # check DESC EXPECTED-EXIT ACTUAL-EXIT [extra condition result]
	n=$((n + 1))
	if [ "$2" = "$3" ] && [ "${4:-0}" = 0 ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1 (exit $3, expected $2)"
		sed 's/^/# /' "$tmp/err" 2>/dev/null | head -5
	fi
}
t() { "$TALLY" "$@" >"$tmp/out" 2>"$tmp/err"; }

echo "1..21"
t --version; check "--version" 0 $? "$(grep -qx 'tally [0-9.]*' "$tmp/out"; echo $?)"
t help; check "help lists the commands" 0 $? "$(grep -q 'quarantine' "$tmp/out"; echo $?)"
t frobnicate; check "unknown command is a usage error" 2 $? "$(grep -q "unknown command 'frobnicate'" "$tmp/err"; echo $?)"
t --bogus customers; check "unknown option is a usage error" 2 $? "$(grep -q "'--bogus'" "$tmp/err"; echo $?)"
t --db "$tmp/none.db" customers; check "a missing mirror is a runtime error that says so" 3 $? "$(grep -q 'no mirror here' "$tmp/err"; echo $?)"
[ ! -e "$tmp/none.db" ]; check "and a read does not create it" 0 $?
t --db "$tmp/m.db" ingest; check "ingest with no logs is a usage error" 2 $? "$(grep -q 'no logs given' "$tmp/err"; echo $?)"
t --db "$tmp/m.db" --catalog "$tmp/nope.json" ingest --webhooks x; check "a missing catalog names the file" 2 $? "$(grep -q 'nope.json' "$tmp/err"; echo $?)"
printf '{"plans": {"p": {"credits": 5}}}' > "$tmp/bad.json"
t --db "$tmp/m.db" --catalog "$tmp/bad.json" ingest --webhooks x; check "a bad catalog names the key" 2 $? "$(grep -q 'credits' "$tmp/err"; echo $?)"

# A customer whose name and email carry terminal escape sequences.
"$PYTHON3" - "$tmp/w.log" <<'PY'
import json, sys
name = "Evil\u001b]0;pwned\u0007\u001b[31mRed\u001b[0m\u009b2J"
ev = {"id": "evt_esc", "object": "event", "type": "customer.created", "created": 1763000000,
      "data": {"object": {"id": "cus_ESC", "object": "customer", "name": name,
                          "email": "x\u001b[2Jy@example.com"}}}
open(sys.argv[1], "w").write(json.dumps(ev) + "\n")
PY
t --db "$tmp/m.db" --catalog "$cat" ingest --webhooks "$tmp/w.log"; check "ingest of a hostile customer name" 0 $?
[ "$(stat -c %a "$tmp/m.db")" = 600 ]; check "the mirror is created mode 0600" 0 $?
t --db "$tmp/m.db" customers; check "customers prints" 0 $?
! grep -q $'\033' "$tmp/out" && ! grep -q $'\007' "$tmp/out" && ! grep -q $'\xc2\x9b' "$tmp/out"
check "no escape or control bytes reach the terminal" 0 $?
grep -q 'EvilRed' "$tmp/out"; check "the printable text survives" 0 $?
t --db "$tmp/m.db" customer cus_ESC; ! grep -q $'\033' "$tmp/out"; check "customer view is clean too" 0 $?
t --db "$tmp/m.db" customer cus_NOPE; check "an unknown customer exits 1" 1 $? "$(grep -q 'no customer cus_NOPE' "$tmp/err"; echo $?)"
t --db "$tmp/m.db" --catalog "$cat" --json balance cus_ESC
check "balance --json has customer, balance, unit" 0 $? "$("$PYTHON3" -c '
import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if (d["customer"], d["balance"], d["unit"]) == ("cus_ESC", 0, "credits") else 1)' "$tmp/out"; echo $?)"
t --db "$tmp/m.db" --catalog "$cat" access cus_ESC chat --json
check "access --json: deny, reason, trace, age, stale" 1 $? "$("$PYTHON3" -c '
import json,sys; d=json.load(open(sys.argv[1]))
ok = d["decision"] == "deny" and d["reason"] == "no-subscription" and isinstance(d["trace"], list) \
     and d["mirror_age_seconds"] == 0 and d["stale"] is False
sys.exit(0 if ok else 1)' "$tmp/out"; echo $?)"
t --db "$tmp/m.db" ledger cus_ESC --limit abc; check "a bad --limit names the flag" 2 $? "$(grep -q -- '--limit' "$tmp/err"; echo $?)"
t --db "$tmp/m.db" --catalog "$cat" access cus_ESC; check "access without a feature is a usage error" 2 $?

# Two subscriptions: sub_1 canceled (checked first), sub_2 active.  The allow
# must name the one that granted it.
"$PYTHON3" - "$tmp/two.log" <<'PY'
import json, sys
def sub(sid, status):
    return {"id": "evt_" + sid, "object": "event", "type": "customer.subscription.updated",
            "created": 1763000000, "data": {"object": {"id": sid, "object": "subscription",
            "customer": "cus_TWO", "status": status, "items": {"object": "list", "data": [
            {"id": "si_" + sid, "price": {"id": "price_pro_monthly"}, "quantity": 1,
             "current_period_start": 1763000000, "current_period_end": 1765592000}]}}}}
cus = {"id": "evt_cus_two", "object": "event", "type": "customer.created", "created": 1763000000,
       "data": {"object": {"id": "cus_TWO", "object": "customer"}}}
open(sys.argv[1], "w").write("\n".join(json.dumps(v) for v in (cus, sub("sub_1", "canceled"), sub("sub_2", "active"))) + "\n")
PY
"$TALLY" --db "$tmp/m.db" --catalog "$cat" ingest --webhooks "$tmp/two.log" >/dev/null 2>&1
t --db "$tmp/m.db" --catalog "$cat" access cus_TWO chat --json
check "an allow names the subscription that granted it" 0 $? "$("$PYTHON3" -c '
import json,sys; d=json.load(open(sys.argv[1]))
sys.exit(0 if d["subscription"] == "sub_2" and "sub_2" in d["detail"] and "canceled" not in d["detail"] else 1)' "$tmp/out"; echo $?)"
