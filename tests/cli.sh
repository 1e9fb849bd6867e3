#!/bin/bash
# Command-line behaviour (TAP): exit codes, usage errors that name the flag,
# unknown commands, a missing mirror, text from outside made inert before it
# reaches the terminal, and JSON shapes promised by doc/formats.md.
set -u
. "${SRCDIR:-.}/tests/lib/tap.sh"
tap_setup cli
export TALLY_NOW=1763500000
cat=$CATALOG
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

echo "1..44"
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

# --- access: a deny reports one coherent subscription ------------------------
# cus_MIX: sub_M1 active whose period ended (closest to passing), sub_M2 canceled
# (examined after it).  The reason, the detail and the subscription must all
# be sub_M1's, and the trace must show both.  cus_TIE: two canceled
# subscriptions; the one with the later period (sub_T3, examined first) is
# reported.  cus_REF: only named by an invoice, never seen itself.
"$PYTHON3" - "$tmp/mix.log" <<'PY'
import json, sys
def sub(cus, sid, status, end):
    return {"id": "evt_" + sid, "object": "event", "type": "customer.subscription.updated",
            "created": 1763000000, "data": {"object": {"id": sid, "object": "subscription",
            "customer": cus, "status": status, "items": {"object": "list", "data": [
            {"id": "si_" + sid, "price": {"id": "price_pro_monthly"}, "quantity": 1,
             "current_period_start": end - 2592000, "current_period_end": end}]}}}}
def cus(cid):
    return {"id": "evt_" + cid, "object": "event", "type": "customer.created", "created": 1763000000,
            "data": {"object": {"id": cid, "object": "customer"}}}
inv = {"id": "evt_in_REF", "object": "event", "type": "invoice.created", "created": 1763000000,
       "data": {"object": {"id": "in_REF", "object": "invoice", "customer": "cus_REF", "status": "open"}}}
v = [cus("cus_MIX"), sub("cus_MIX", "sub_M1", "active", 1763400000),
     sub("cus_MIX", "sub_M2", "canceled", 1763300000),
     cus("cus_TIE"), sub("cus_TIE", "sub_T3", "canceled", 1765000000),
     sub("cus_TIE", "sub_T4", "canceled", 1764000000), inv]
open(sys.argv[1], "w").write("\n".join(json.dumps(x) for x in v) + "\n")
PY
"$TALLY" --db "$tmp/m.db" --catalog "$cat" ingest --webhooks "$tmp/mix.log" >/dev/null 2>&1
t --db "$tmp/m.db" --catalog "$cat" access cus_MIX chat --json
check "a deny takes reason, detail and subscription from one subscription" 1 $? "$("$PYTHON3" -c '
import json,sys; d=json.load(open(sys.argv[1]))
subs = [s["detail"] for s in d["trace"] if s["rule"] == "subscription"]
ok = d["reason"] == "period-ended" and d["subscription"] == "sub_M1" and "sub_M1" in d["detail"] \
     and "canceled" not in d["detail"] and len(subs) == 2 and "sub_M1" in subs[0] and "sub_M2" in subs[1]
sys.exit(0 if ok else 1)' "$tmp/out"; echo $?)"
t --db "$tmp/m.db" --catalog "$cat" access cus_TIE chat --json
check "among equal failures the deny reports the most recent period" 1 $? "$("$PYTHON3" -c '
import json,sys; d=json.load(open(sys.argv[1]))
ok = d["reason"] == "subscription-inactive" and d["subscription"] == "sub_T3" and "sub_T3" in d["detail"]
sys.exit(0 if ok else 1)' "$tmp/out"; echo $?)"
t --db "$tmp/m.db" --catalog "$cat" access cus_REF chat --json
check "a customer named only by an invoice is not known" 1 $? "$("$PYTHON3" -c '
import json,sys; d=json.load(open(sys.argv[1]))
ok = d["reason"] == "customer-not-fetched" and "in_REF" in d["detail"] and "not yet fetched" in d["detail"] \
     and len(d["trace"]) == 1 and d["trace"][0]["rule"] == "customer" and not d["trace"][0]["pass"]
sys.exit(0 if ok else 1)' "$tmp/out"; echo $?)"

# --- balance of an unknown customer ------------------------------------------
t --db "$tmp/m.db" --catalog "$cat" balance cus_NOPE
check "balance of an unknown customer exits 1 and names it" 1 $? "$(grep -q 'no customer cus_NOPE' "$tmp/err" && [ ! -s "$tmp/out" ]; echo $?)"
t --db "$tmp/m.db" --catalog "$cat" --json balance cus_NOPE
check "... with --json too, printing nothing" 1 $? "$([ ! -s "$tmp/out" ]; echo $?)"
t --db "$tmp/m.db" --catalog "$cat" balance cus_REF
check "balance of a customer known only by reference is 0" 0 $? "$(grep -q '^cus_REF: 0 credits' "$tmp/out"; echo $?)"

# --- paging: every list, --limit and --after ---------------------------------
# Usage for ledger entries and a customer id that needs quoting, and bad
# lines for the quarantine.
"$PYTHON3" - "$tmp/u.log" <<'PY'
import json, sys
L = [json.dumps({"identifier": "req_p%d" % i, "event_name": "api_tokens", "timestamp": 1763000100 + i,
                 "payload": {"stripe_customer_id": "cus_MIX", "value": "10"}}) for i in range(5)]
L += ["not json at all", "[1, 2]", '"a string"', "{oops"]
L.append(json.dumps({"identifier": "req_q", "event_name": "api_tokens", "timestamp": 1763000200,
                     "payload": {"stripe_customer_id": "cus with 'quote'", "value": "1"}}))
open(sys.argv[1], "w").write("\n".join(L) + "\n")
PY
"$TALLY" --db "$tmp/m.db" --catalog "$cat" ingest --usage "$tmp/u.log" >/dev/null 2>&1
"$PYTHON3" - "$TALLY" "$tmp/m.db" >"$tmp/paging" 2>&1 <<'PY'
import json, shlex, subprocess, sys
tally, db = sys.argv[1:3]
def run(args):
    p = subprocess.run([tally, "--db", db, "--json"] + args, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("tally %s exited %d: %s" % (" ".join(args), p.returncode, p.stderr))
    return json.loads(p.stdout), [l for l in p.stderr.splitlines() if l.startswith("next: ")]
bad = 0
for args, key in ((["customers"], "id"), (["ledger", "cus_MIX"], "seq"), (["events"], "id"),
                  (["events", "--customer", "cus_MIX"], "id"), (["deliveries"], "id"),
                  (["quarantine"], "id")):
    rows, hint = run(args + ["--limit", "100000"])
    got, cursor = [], None
    for _ in range(100):
        page, hint = run(args + ["--limit", "2"] + (["--after", cursor] if cursor else []))
        got += page
        if not hint:
            break
        words = shlex.split(hint[0][len("next: "):])
        if len(page) != 2 or words[0] != "--after" or words[1] != str(page[-1][key]):
            print("%s: page %s, hint %s" % (args, page, hint))
            bad = 1
            break
        cursor = words[1]
    if len(rows) < 3 or got != rows:
        print("%s: %d rows in pages of 2, %d in one" % (args, len(got), len(rows)))
        bad = 1
sys.exit(bad)
PY
rc=$?
sed 's/^/# /' "$tmp/paging"
check "every list pages with --limit and --after to exactly its full output" 0 $rc
t --db "$tmp/m.db" quarantine --limit 2
check "a full text page says how to get the next one, on stderr" 0 $? "$(grep -qx 'next: --after 2' "$tmp/err" && ! grep -q next "$tmp/out"; echo $?)"
t --db "$tmp/m.db" quarantine --after 2
check "the last page has no hint" 0 $? "$(grep -q '^3 ' "$tmp/out" && ! grep -q '^2 ' "$tmp/out" && [ ! -s "$tmp/err" ]; echo $?)"
t --db "$tmp/m.db" customers --limit 1 --after "cus with"
check "a cursor that needs quoting is quoted" 0 $? "$(grep -qxF "next: --after 'cus with '\''quote'\'''" "$tmp/err"; echo $?)"
t --db "$tmp/m.db" events --after evt_nope
check "an --after that names no event is a usage error" 2 $? "$(grep -q "evt_nope" "$tmp/err"; echo $?)"
t --db "$tmp/m.db" deliveries --after x
check "a delivery cursor must be a number" 2 $? "$(grep -q -- "--after" "$tmp/err"; echo $?)"
t --db "$tmp/m.db" deliveries --limit
check "an option without its value says so" 2 $? "$(grep -q -- "--limit needs a value" "$tmp/err"; echo $?)"
t --db "$tmp/m.db" quarantine --frob
check "an unknown list option is named" 2 $? "$(grep -q -- "unknown option '--frob'" "$tmp/err"; echo $?)"

# --- read-only mode ----------------------------------------------------------
cp "$tmp/m.db" "$tmp/ro.db"
sum=$(cksum < "$tmp/ro.db")
t --db "$tmp/ro.db" --read-only --catalog "$cat" ingest --usage "$tmp/u.log"
check "--read-only refuses ingest (exit 2) and says why" 2 $? "$(grep -qx 'tally ingest: refused: read-only mode (--read-only)' "$tmp/err"; echo $?)"
printf 'read_only = true\n' >"$tmp/ro.conf"
t --config "$tmp/ro.conf" --db "$tmp/ro.db" --catalog "$cat" ingest --usage "$tmp/u.log"
check "read_only = true in the configuration refuses it too" 2 $? "$(grep -qxF "tally ingest: refused: read-only mode (read_only = true in $tmp/ro.conf)" "$tmp/err"; echo $?)"
[ "$(cksum < "$tmp/ro.db")" = "$sum" ]; check "and the mirror is untouched" 0 $?
chmod 640 "$tmp/ro.db"
t --db "$tmp/ro.db" --read-only customers
check "reads work in read-only mode" 0 $? "$(grep -q cus_MIX "$tmp/out"; echo $?)"
[ "$(stat -c %a "$tmp/ro.db")" = 640 ]; check "and open the mirror read-only (no chmod)" 0 $?
t --db "$tmp/none.db" --read-only customers
check "a missing mirror in read-only mode says so" 3 $? "$(grep -q 'no mirror here' "$tmp/err" && [ ! -e "$tmp/none.db" ]; echo $?)"

# --- the default mirror's directory -------------------------------------------
h="$tmp/newhome"
mkdir "$h"
HOME="$h" t customers
check "a read of the default mirror that is missing says so" 3 $? "$(grep -q 'no mirror here' "$tmp/err" && [ ! -e "$h/.local" ]; echo $?)"
HOME="$h" t --catalog "$cat" ingest --usage "$tmp/u.log"
check "ingest creates the default mirror and its directory" 0 $? "$([ -f "$h/.local/share/tally/mirror.db" ]; echo $?)"
[ "$(stat -c %a "$h/.local" "$h/.local/share" "$h/.local/share/tally" | sort -u)" = 700 ]
check "the directories it creates are mode 0700" 0 $?
