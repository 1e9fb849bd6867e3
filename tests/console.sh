#!/bin/bash
# The console (TAP), driven as an operator would: the real program in a
# real terminal (tmux, headless, fixed size, TZ and locale), keys sent with
# send-keys, the screen read with capture-pane.  Every wait polls the screen
# with a bound; no fixed sleep is an assertion.
#
# The mirror comes from tests/lib/stripe_events.py logs and `tally ingest`,
# plus a customer whose name carries terminal escape sequences.  A config
# names a webhook log, so the console runs the sync thread: an event appended
# to that log must appear live, and so must one written by a `tally ingest`
# in another process.
#
# The operator's actions (issue 6) are driven through their dialogs and
# checked in the mirror: adjust (the preview, the entry and its one audit
# row, the same key again doing nothing, a declined dialog audited
# "refused" with no entry, a typed confirmation above adjust_cap), reverse
# from the ledger; then, on a second mirror served by tests/lib/fake_stripe.py
# with tests/lib/hook_endpoint.py as the product's endpoint: adjustments
# while the sync thread writes (usage lines it follows), resync, replay of a
# failed delivery (signature verified, a new delivery), ack and repair from
# the alerts; and a read-only console refusing each action, writing nothing.
#
# Environment: TALLY, SRCDIR, PYTHON3 (set by make check); KEEP=1 keeps the
# work directory.
set -u
. "${SRCDIR:-.}/tests/lib/tap.sh"
tap_setup console

if ! command -v tmux >/dev/null 2>&1; then
	echo "1..0 # SKIP tmux is not installed"
	exit 0
fi
sock="tally-console-$$"
hookpid=
at_exit 'tmux -L "$sock" kill-server >/dev/null 2>&1'
at_exit 'stop_pid "$hookpid"'
export TZ=UTC LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color
unset NO_COLOR TMUX
cat="$CATALOG"
HOOK="$SRCDIR/tests/lib/hook_endpoint.py"

fails=0
ok() {          # ok DESC STATUS
	n=$((n + 1))
	if [ "$2" = 0 ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		fails=$((fails + 1))
		screen | sed 's/^/# | /'
		[ -s "$tmp/err" ] && sed 's/^/# err: /' "$tmp/err" | head -20
		[ -s "$tmp/console.err" ] && sed 's/^/# console: /' "$tmp/console.err" | head -20
	fi
}
target=main
screen() { tmux -L "$sock" capture-pane -t "$target" -p 2>/dev/null; }
keys() { tmux -L "$sock" send-keys -t "$target" "$@" 2>/dev/null; }
alive() { tmux -L "$sock" has-session -t "$target" 2>/dev/null; }
# wait_for TEXT [SECONDS]: poll the screen until it shows TEXT (fixed string).
wait_for() {
	local deadline=$((SECONDS + ${2:-10}))

	while [ $SECONDS -le $deadline ] && alive; do
		screen | grep -qF -- "$1" && return 0
		sleep 0.1
	done
	return 1
}
# wait_re REGEX [SECONDS]: poll until the screen matches the extended regex.
wait_re() {
	local deadline=$((SECONDS + ${2:-10}))

	while [ $SECONDS -le $deadline ] && alive; do
		screen | grep -qE -- "$1" && return 0
		sleep 0.1
	done
	return 1
}
# wait_gone TEXT [SECONDS]
wait_gone() {
	local deadline=$((SECONDS + ${2:-10}))

	while [ $SECONDS -le $deadline ] && alive; do
		screen | grep -qF -- "$1" || return 0
		sleep 0.1
	done
	return 1
}
# The selection the title line names ("sel: KEY").
selected() { screen | sed -n '2s/.*sel: \([^ ]*\).*/\1/p'; }
# wait_sel KEY [SECONDS]: poll until the selection is KEY.
wait_sel() {
	local deadline=$((SECONDS + ${2:-10}))

	while [ $SECONDS -le $deadline ] && alive; do
		[ "$(selected)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
# The number at the start of each list row (the ledger's seq).
row_numbers() { screen | sed -n '4,28p' | sed -n 's/^[> ] *\([0-9][0-9]*\) .*/\1/p'; }
# sel_row KEY: from a list's first row, move down until KEY is selected
# (at most 40 rows).
sel_row() {
	local i d prev

	keys g
	for i in $(seq 1 40); do
		prev=$(selected)
		[ "$prev" = "$1" ] && return 0
		keys j
		d=0
		while [ "$(selected)" = "$prev" ] && [ $d -lt 20 ]; do
			sleep 0.05
			d=$((d + 1))
		done
	done
	[ "$(selected)" = "$1" ]
}
# commas N: 1234567 as the console shows it, 1,234,567
commas() { "$PYTHON3" -c 'import sys; print("{:,}".format(int(sys.argv[1])))' "$1"; }
# adjust AMOUNT REASON KEY [PUSH]: fill the adjust dialog up to its preview
adjust() {
	keys a && wait_for "amount:" && keys -- "$1" Enter && wait_for "reason:" &&
		keys -- "$2" Enter && wait_for "key (optional):" && keys -- "$3" Enter || return 1
	if [ -n "${4:-}" ]; then
		wait_for "push to Stripe" && keys Enter || return 1
	fi
	wait_re "to confirm|y confirms|Enter or Esc closes"
}
# counts DB: what an action adds or changes: rows of the ledger, the audit
# log and the deliveries, and the alerts by state
counts() { sql "$1" "SELECT (SELECT count(*) FROM ledger), (SELECT count(*) FROM audit),
	(SELECT count(*) FROM deliveries),
	(SELECT group_concat(state || '=' || n) FROM (SELECT state, count(*) AS n FROM alerts
	 GROUP BY state ORDER BY state))"; }

echo "1..50"

# --- the mirror -------------------------------------------------------------
"$PYTHON3" "$SRCDIR/tests/lib/stripe_events.py" --seed 5 --customers 30 --months 6 \
	--out-dir "$tmp/logs" --quiet
now=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["now"])' \
	"$tmp/logs/expected.json")
export TALLY_NOW=$now
"$PYTHON3" - "$tmp/hostile.log" "$now" <<'PY'
import json, sys
name = "Mallory\u001b[31mRed\u001b[0m\u001b]0;pwned\u0007\u009b2J"
ev = {"id": "evt_hostile", "object": "event", "type": "customer.created",
      "created": int(sys.argv[2]) - 86400,
      "data": {"object": {"id": "cus_HOSTILE", "object": "customer", "name": name,
                          "email": "m\u001b[2Jx@example.com"}}}
open(sys.argv[1], "w").write(json.dumps(ev) + "\n")
PY
"$TALLY" --db "$tmp/m.db" --catalog "$cat" ingest --webhooks "$tmp/logs/webhooks.log" \
	--webhooks "$tmp/hostile.log" --usage "$tmp/logs/usage.log" >/dev/null 2>"$tmp/err"
ok "the test mirror is built from the generated logs" $?
: >"$tmp/err"

# A customer with an active subscription and the access answer for it.
"$TALLY" --db "$tmp/m.db" --json customers --limit 100 >"$tmp/customers.json" 2>/dev/null
read -r cus cname < <("$PYTHON3" -c '
import json, sys
for c in json.load(open(sys.argv[1])):
    if c["name"] and c["subscriptions"] == "active" and " " in c["name"]:
        print(c["id"], c["name"].split(" ")[0] + " " + c["name"].split(" ")[1]); break
' "$tmp/customers.json")
"$TALLY" --db "$tmp/m.db" --catalog "$cat" --json access "$cus" chat >"$tmp/access.json" 2>/dev/null
reason=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["reason"])' \
	"$tmp/access.json")

: >"$tmp/live.log"
cat >"$tmp/config" <<EOF
db = $tmp/m.db
catalog = $cat
webhook_log = $tmp/live.log
operator = console-op
EOF

# --- open it -----------------------------------------------------------------
tmux -L "$sock" new-session -d -s main -x 100 -y 30 \
	"TALLY_CONFIG='$tmp/config' '$TALLY' console 2>'$tmp/console.err'; echo \$? >'$tmp/exit'"
wait_for "the mirror holds"
ok "the console opens on the overview" $?
screen | head -1 | grep -q "TEST" && screen | head -1 | grep -qF "$tmp/m.db"
ok "the status line names the mirror and shows TEST" $?
wait_for "sync thread" && screen | grep -q "sync thread .*rounds"
ok "the overview shows the sync thread running (a webhook log is configured)" $?

# --- find a customer by filter, open it, read its access reason ----------------
keys ':cus' Enter
wait_for "customers  sort: id asc"
ok ":cus switches to the customers list" $?
keys '/' "$cname" Enter
wait_for "filter: $cname" && wait_for "$cus"
ok "/ filters the customers (found $cus by '$cname')" $?
[ "$(selected)" = "$cus" ]
ok "the filtered row is selected" $?
keys Enter
wait_for "customer $cus" && wait_for "access"
ok "Enter opens the customer" $?
screen | grep -E "chat +(allow|deny) +$reason:" >/dev/null
ok "its access to chat shows the reason tally access gives ($reason)" $?
screen | grep -qF "subscriptions → invoices" && screen | grep -q "balance .*entr"
ok "its subscriptions tree and balance with a sparkline are shown" $?

# --- page through a long ledger ----------------------------------------------
keys ':led' Enter
wait_for "ledger  sort: seq desc"
first=$(row_numbers)
top0=$(echo "$first" | head -1)
keys PageDown PageDown PageDown
deadline=$((SECONDS + 5))
while [ "$(selected)" = "$top0" ] && [ $SECONDS -le $deadline ]; do sleep 0.1; done
rows=$(row_numbers)
top3=$(echo "$rows" | head -1)
[ -n "$top3" ] && [ "$top3" -lt "$top0" ] && [ "$(echo "$rows" | wc -l)" -ge 20 ]
ok "PgDn three times moves down the ledger ($top0 -> $top3)" $?
echo "$rows" | sort -rn -c 2>/dev/null && [ "$(echo "$rows" | sort -u | wc -l)" = "$(echo "$rows" | wc -l)" ]
ok "the rows stay in order, without repeats" $?
keys G
wait_sel 1
ok "G goes to the last entry (seq 1) through a keyset page from the end" $?
keys g
wait_sel "$top0"
ok "g comes back to the newest" $?

# --- switch views by command, with completion ------------------------------------
keys ':wh' Enter
wait_for "webhook deliveries"
screen | sed -n 4p | grep -q " failed "
ok ":wh shows the deliveries, failed first" $?
keys ':quar' Tab
wait_for ":quarantine "
ok "Tab completes a command (:quar -> :quarantine)" $?
keys Enter
wait_for "quarantine  sort: id desc"
ok "the completed command opens the view" $?

# --- the hostile name is inert ------------------------------------------------
keys ':cus' Enter '/' 'Mallory' Enter
wait_for "MalloryRed"
ok "a name with escape sequences shows cleaned (MalloryRed)" $?
title=$(tmux -L "$sock" display-message -t main -p '#{pane_title}')
! tmux -L "$sock" capture-pane -t main -p -e | grep -a "Mallory" | grep -qa $'Mallory\033' &&
	! screen | grep -qa $'\033' && [ "$title" != pwned ]
ok "no escape sequence reaches the terminal (no colour change, no title set)" $?

# --- resize ------------------------------------------------------------------
tmux -L "$sock" resize-window -t main -x 80 -y 24
wait_for "MalloryRed" && [ "$(screen | wc -l)" -le 24 ] && screen | head -1 | grep -q TEST &&
	[ "$(screen | wc -L)" -le 80 ] && screen | sed -n 3p | grep -q "name"
ok "resized to 80x24: status line, list and hints redrawn" $?
tmux -L "$sock" resize-window -t main -x 100 -y 30

# --- live: the sync thread's change, then another process's --------------------
keys ':ev' Enter
wait_for "events  sort: created desc"
keys j j
sleep 0.2
sel=$(selected)
cat >>"$tmp/live.log" <<EOF
{"id": "evt_live_one", "object": "event", "type": "customer.created", "created": $((now + 60)), "data": {"object": {"id": "cus_LIVE1", "object": "customer", "name": "Live One"}}}
EOF
wait_for "evt_live_one" 10 && [ "$(selected)" = "$sel" ]
ok "an event appended to the followed log appears live; the selection stays on $sel" $?
cat >"$tmp/other.log" <<EOF
{"id": "evt_live_two", "object": "event", "type": "customer.created", "created": $((now + 120)), "data": {"object": {"id": "cus_LIVE2", "object": "customer", "name": "Live Two"}}}
EOF
"$TALLY" --db "$tmp/m.db" --catalog "$cat" ingest --webhooks "$tmp/other.log" >/dev/null 2>&1
wait_for "evt_live_two" 10 && [ "$(selected)" = "$sel" ]
ok "a tally ingest in another process appears too, selection kept" $?

# --- operator actions: adjust, the same key again, declined, typed, reverse ----------
DB="$tmp/m.db"
keys ':cus' Enter
wait_for "customers  sort: id asc"
keys '/' "$cus" Enter
wait_sel "$cus"
bal0=$(sql "$DB" "SELECT balance FROM balances WHERE customer = ?" "$cus")
adjust 750 "console goodwill" con1 &&
	screen | grep -qF "ledger:   + adjust +750 adjust:con1" &&
	screen | grep -qF "balance:  $bal0 -> $((bal0 + 750)) credits (+750)" && wait_for "y confirms"
ok "a on a customer asks the amount, reason and key, then previews the entry and the balance" $?
keys y
wait_for "adjust ok:" &&
[ "$(sql "$DB" "SELECT customer, amount, kind, actor, reason FROM ledger WHERE key = 'adjust:con1'")" = \
  "$cus|750|adjust|console-op|console goodwill" ] &&
[ "$(sql "$DB" "SELECT count(*), min(result), min(operator), min(action), min(target), min(reason)
  FROM audit WHERE idem_key = 'adjust:con1'")" = "1|ok|console-op|adjust|$cus|console goodwill" ]
ok "y appends the entry and exactly one audit row (operator, reason, key)" $?
bal1=$(sql "$DB" "SELECT balance FROM balances WHERE customer = ?" "$cus")
[ "$bal1" = $((bal0 + 750)) ] && wait_for " $(commas "$bal1") " 5 && [ "$(selected)" = "$cus" ]
ok "the list re-reads at once: the new balance ($bal1) shows, the selection stays" $?
adjust 750 "console goodwill" con1 && screen | grep -qF "nothing to do: adjust:con1 is already recorded"
ok "the same submission again: the preview says there is nothing to do" $?
keys Enter
wait_for "adjust noop:" &&
[ "$(sql "$DB" "SELECT count(*) FROM ledger WHERE key = 'adjust:con1'")" = 1 ] &&
[ "$(sql "$DB" "SELECT group_concat(result) FROM (SELECT result FROM audit WHERE idem_key = 'adjust:con1' ORDER BY id)")" = "ok,noop" ] &&
[ "$(sql "$DB" "SELECT balance FROM balances WHERE customer = ?" "$cus")" = "$bal1" ]
ok "... and it did nothing: one entry, the balance unchanged, the attempt audited noop" $?
l0=$(sql "$DB" "SELECT count(*) FROM ledger")
adjust -40 "not this time" con2 && wait_for "y confirms"
keys n
wait_for "adjust refused:" &&
[ "$(sql "$DB" "SELECT result, reason, detail FROM audit WHERE idem_key = 'adjust:con2'")" = \
  "refused|not this time|declined in the console" ] &&
[ "$(sql "$DB" "SELECT count(*) FROM ledger WHERE key = 'adjust:con2'")" = 0 ] &&
[ "$(sql "$DB" "SELECT count(*) FROM ledger")" = "$l0" ]
ok "a declined dialog writes one refused audit row and no ledger row" $?
adjust 150000 "a big one" con3 && wait_for "to confirm, type 150000"
rc=$?
keys 15000 Enter
wait_for "that is not 150000" && [ "$(sql "$DB" "SELECT count(*) FROM audit WHERE idem_key = 'adjust:con3'")" = 0 ]
[ $rc = 0 ] && [ $? = 0 ]
ok "above adjust_cap the confirmation is typed; a wrong text is asked again, not taken" $?
keys 150000 Enter
wait_for "adjust ok:" &&
[ "$(sql "$DB" "SELECT amount FROM ledger WHERE key = 'adjust:con3'")" = 150000 ]
ok "... the amount typed: the entry is appended" $?
seq1=$(sql "$DB" "SELECT seq FROM ledger WHERE key = 'adjust:con1'")
keys ':led' Enter
wait_for "ledger  sort: seq desc" && sel_row "$seq1"
keys x
wait_for "reason:"
keys 'console reverse' Enter
wait_for "y confirms" && screen | grep -qF "ledger:   + reverse -750 reverse:adjust:con1 ref adjust:con1"
ok "x on a ledger row: a reason, then the preview of the reversal" $?
keys y
wait_for "reverse ok:"
rseq=$(sql "$DB" "SELECT seq FROM ledger WHERE key = 'reverse:adjust:con1' AND amount = -750 AND ref = 'adjust:con1'")
[ -n "$rseq" ] &&
[ "$(sql "$DB" "SELECT count(*), min(result), min(reason) FROM audit WHERE action = 'reverse'")" = "1|ok|console reverse" ] &&
row_numbers | grep -qx "$rseq" && [ "$(selected)" = "$seq1" ]
ok "y appends the reversal (seq $rseq); the list shows it at once, the selection stays on $seq1" $?

# --- help and quit -------------------------------------------------------------
keys '?'
wait_for "keys here" && screen | grep -q "PgDn,C-f *page-down" && screen | grep -q "filter"
ok "? lists the keys from the action table" $?
keys Escape ':q' Enter
deadline=$((SECONDS + 10))
while [ ! -s "$tmp/exit" ] && [ $SECONDS -le $deadline ]; do sleep 0.1; done
[ "$(cat "$tmp/exit" 2>/dev/null)" = 0 ]
ok ":q leaves with status 0" $?

# --- a mirror served by the fake Stripe, with the product's endpoint ------------------
SECRET=whsec_test_console_0000
DB2="$tmp/m2.db"
"$PYTHON3" "$GEN" --seed 61 --customers 4 --months 3 --secret "$SECRET" --out-dir "$tmp/gen" \
	--stripe-state "$tmp/state" --quiet
NOW2=$(now_of "$tmp/state/state.json")
t2() { TALLY_NOW=$NOW2 "$TALLY" --db "$DB2" --catalog "$cat" "$@"; }
t2 ingest --webhooks "$tmp/gen/webhooks.log" --usage "$tmp/gen/usage.log" >/dev/null 2>"$tmp/err"
read -r C1 C2 C3 C4 <<<"$(sql "$DB2" "SELECT id FROM customers ORDER BY id" | tr '\n' ' ')"
# Two balances far below the floor: a negative-balance alert for each.
for c in "$C3" "$C4"; do
	t2 adjust "$c" -99999999 --reason "test: below the floor" --key "neg-$c" --yes \
		--confirm -99999999 >/dev/null 2>>"$tmp/err"
done
t2 drift >/dev/null 2>>"$tmp/err"
A3=$(sql "$DB2" "SELECT id FROM alerts WHERE rule = 'negative-balance' AND customer = ? AND state = 'open'" "$C3")
A4=$(sql "$DB2" "SELECT id FROM alerts WHERE rule = 'negative-balance' AND customer = ? AND state = 'open'" "$C4")
[ -n "$C1" ] && [ -n "$A3" ] && [ -n "$A4" ]
ok "a second mirror from a generated history, with two negative-balance alerts ($A3, $A4)" $?
: >"$tmp/err"

fake_start "$tmp/state"
"$PYTHON3" "$HOOK" --secret "$SECRET" --record "$tmp/hook.jsonl" --log "$tmp/hook.log" \
	--port-file "$tmp/hook.port" --now "$NOW2" 2>"$tmp/hook.err" &
hookpid=$!
wait_file "$tmp/hook.port"
HOOKURL="http://127.0.0.1:$(cat "$tmp/hook.port")/hook"
: >"$tmp/live-usage.log"
cat >"$tmp/config2" <<CONF
db = $DB2
catalog = $cat
webhook_secret = $SECRET
webhook_endpoint_url = $HOOKURL
usage_log = $tmp/live-usage.log
sync_interval = 1
operator = console-op
CONF
chmod 600 "$tmp/config2"
# The tmux server keeps the environment it started with: name what differs.
tmux -L "$sock" new-session -d -s act -x 100 -y 30 \
	"TALLY_NOW=$NOW2 STRIPE_API_KEY=$KEY STRIPE_API_BASE=$STRIPE_API_BASE \
	TALLY_CONFIG='$tmp/config2' '$TALLY' console 2>'$tmp/console.err'; echo \$? >'$tmp/exit2'"
target=act
wait_for "the mirror holds" && wait_re "sync thread .*rounds"
ok "a console on it runs the sync thread against the fake Stripe" $?

# --- adjust while the sync thread writes ------------------------------------------------
keys ":cus $C2" Enter
wait_for "customer $C2"
# Each round: the dialog waits at its preview; 10000 usage lines are
# appended to the log the sync thread follows (5 batches of 2000, each its
# own transaction); y is pressed once its first batch has committed, so the
# adjustment's transaction contends with the rest.
adj=0
mixed=0
for i in 1 2 3; do
	adjust 10 "during sync $i" "live$i" push && wait_for "y confirms" || adj=1
	"$PYTHON3" - "$tmp/live-usage.log" "$i" "$C2" "$NOW2" <<'PY'
import json, sys
with open(sys.argv[1], "a") as f:
    for j in range(10000):
        f.write(json.dumps({"identifier": "req_con_%s_%d" % (sys.argv[2], j),
                            "event_name": "api_tokens", "timestamp": int(sys.argv[4]),
                            "payload": {"stripe_customer_id": sys.argv[3], "value": "7"}}) + "\n")
PY
	deadline=$((SECONDS + 20))
	while [ "$(sql "$DB2" "SELECT count(*) > 0 FROM ledger WHERE key LIKE ?" "consume:usage:req_con_${i}_%")" = 0 ] &&
		[ $SECONDS -le $deadline ]; do
		sleep 0.02
	done
	keys y
	wait_for "adjust ok:" 20 || adj=1
	# Did it land between two of the sync's batches?  Timing decides: noted,
	# not asserted.
	[ "$(sql "$DB2" "SELECT (SELECT seq FROM ledger WHERE key = ?1) < max(seq) FROM ledger
	    WHERE key LIKE ?2" "adjust:live$i" "consume:usage:req_con_${i}_%")" = 1 ] && mixed=$((mixed + 1))
done
deadline=$((SECONDS + 30))
while [ "$(sql "$DB2" "SELECT count(*) FROM ledger WHERE key LIKE 'consume:usage:req_con_%'")" != 30000 ] &&
	[ $SECONDS -le $deadline ]; do
	sleep 0.2
done
echo "# $mixed of 3 adjustments committed between the sync thread's batches"
[ $adj = 0 ] &&
[ "$(sql "$DB2" "SELECT count(*), sum(amount) FROM ledger WHERE key IN ('adjust:live1', 'adjust:live2', 'adjust:live3')")" = "3|30" ] &&
[ "$(sql "$DB2" "SELECT count(*) FROM audit WHERE idem_key LIKE 'adjust:live%' AND result = 'ok'")" = 3 ] &&
[ "$(sql "$DB2" "SELECT count(*), sum(amount) FROM ledger WHERE key LIKE 'consume:usage:req_con_%'")" = "30000|-210000" ] &&
[ "$(sql "$DB2" "SELECT balance = (SELECT sum(amount) FROM ledger WHERE customer = ?1) FROM balances WHERE customer = ?1" "$C2")" = 1 ]
ok "adjustments made in the console while the sync thread writes all land, and so do its 30000 usage lines" $?

# --- resync ---------------------------------------------------------------------------------
keys R
wait_re "objects: [0-9]+ fetched" 20 && screen | grep -q "balance: " && screen | grep -q "access: "
ok "R on the customer resyncs it from the fake and shows the report" $?
keys Enter
wait_for "resync ok:" &&
[ "$(sql "$DB2" "SELECT count(*) FROM audit WHERE action = 'resync' AND target = ? AND result = 'ok'" "$C2")" = 1 ]
ok "... audited once" $?

# --- replay a failed delivery to the endpoint ---------------------------------------------
keys ':wh' Enter
wait_for "webhook deliveries"
D1=$(selected)
EV1=$(sql "$DB2" "SELECT event_id FROM deliveries WHERE id = ? AND status = 'failed'" "$D1")
nd=$(sql "$DB2" "SELECT count(*) FROM deliveries")
keys R
[ -n "$EV1" ] && wait_for "y confirms" && screen | grep -qF "request:  POST $HOOKURL" &&
	screen | grep -qF "Stripe-Signature: t=$NOW2,v1=" &&
	screen | grep -qF "mirror:   no change to tally's billing state: event $EV1" && [ ! -s "$tmp/hook.jsonl" ]
ok "R on a failed delivery ($D1) previews tally's own change and the exact request, sending nothing" $?
keys y
wait_for "replay ok:" 20
"$PYTHON3" - "$tmp/hook.jsonl" "$DB2" "$EV1" <<'PY'
import json, sqlite3, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 1, recs
body = sqlite3.connect(sys.argv[2]).execute("SELECT body FROM events WHERE id = ?",
                                           (sys.argv[3],)).fetchone()[0]
assert recs[0]["verified"] and recs[0]["body"] == body, recs[0]["why"]
PY
[ $? = 0 ] && [ "$(sql "$DB2" "SELECT count(*) FROM deliveries")" = $((nd + 1)) ] &&
[ "$(sql "$DB2" "SELECT dkey, status, http_status, sig_state FROM deliveries ORDER BY id DESC LIMIT 1")" = \
  "replay:$EV1:1|ok|200|valid" ] &&
[ "$(sql "$DB2" "SELECT action, target, result FROM audit WHERE action = 'replay'")" = "replay|$EV1|ok" ]
ok "y sends it: the endpoint verified the signature and body; a new delivery and one audit row" $?
newd=$(sql "$DB2" "SELECT max(id) FROM deliveries")
row_numbers | grep -qx "$newd" && [ "$(selected)" = "$D1" ]
ok "the new delivery ($newd) shows in the list at once; the selection stays on $D1" $?

# --- ack and repair from the alerts -----------------------------------------------------
keys ':al' Enter
wait_for "alerts  sort: id desc" && sel_row "$A3"
keys a
wait_for "note:"
keys 'the customer pays next week' Enter
wait_for "alert $A3 acknowledged by console-op" &&
[ "$(sql "$DB2" "SELECT state, acked_by, ack_note FROM alerts WHERE id = ?" "$A3")" = \
  "acknowledged|console-op|the customer pays next week" ] &&
[ "$(sql "$DB2" "SELECT action, target, result, reason FROM audit WHERE action = 'ack'")" = \
  "ack|alert:$A3|ok|the customer pays next week" ]
ok "a on an alert acknowledges it with a note (its state, the audit log)" $?
sel_row "$A4"
keys f
wait_for "y confirms" && screen | grep -qF "would: adjust the balance of $C4" &&
	screen | grep -qF "the alert after the re-check: resolved"
ok "f on an alert shows exactly what its repair would change" $?
keys y
wait_for "repair done:" &&
[ "$(sql "$DB2" "SELECT state FROM alerts WHERE id = ?" "$A4")" = resolved ] &&
[ "$(sql "$DB2" "SELECT count(*) FROM ledger WHERE key LIKE ? AND amount > 0" "adjust:drift:negative-balance:$C4:%")" = 1 ] &&
[ "$(sql "$DB2" "SELECT action, target, result FROM audit WHERE action = 'repair'")" = "repair|alert:$A4|ok" ]
ok "y repairs it: the adjustment up to the floor, the alert resolved, audited" $?
keys ':q' Enter
deadline=$((SECONDS + 10))
while [ ! -s "$tmp/exit2" ] && [ $SECONDS -le $deadline ]; do sleep 0.1; done
[ "$(cat "$tmp/exit2" 2>/dev/null)" = 0 ] && [ ! -s "$tmp/console.err" ]
ok "that console leaves with status 0, nothing on standard error" $?
stop_pid "$hookpid"
hookpid=
fake_stop

# --- read-only and NO_COLOR -----------------------------------------------------
tmux -L "$sock" new-session -d -s ro -x 100 -y 30 \
	"NO_COLOR=1 TALLY_CONFIG=/dev/null '$TALLY' --db '$tmp/m.db' --read-only console; sleep 5"
target=ro
wait_for "READ-ONLY" && wait_for "read-only mode" &&
	! tmux -L "$sock" capture-pane -t ro -p -e | grep -qaE $'\033\\[[0-9;]*(3[0-7]|4[0-7]|38;5)'
ok "read-only shows READ-ONLY, starts no sync, and NO_COLOR draws no colour" $?
c0=$(counts "$tmp/m.db")
refused=0
for step in ":cus|a|adjust" ":cus|R|resync" ":led|x|reverse-entry" ":wh|R|replay" ":al|a|ack" \
    ":al|f|repair"; do
	IFS='|' read -r view key name <<<"$step"
	keys "$view" Enter
	wait_for "sort:" && keys "$key" &&
		wait_for "$name refused: read-only mode" 5 && ! screen | grep -qE "amount:|reason:|note:|y confirms" ||
		refused=1
	keys Escape
done
[ $refused = 0 ]
ok "read-only refuses adjust, resync, reverse, replay, ack and repair with a message, no dialog" $?
[ "$(counts "$tmp/m.db")" = "$c0" ]
ok "... and nothing was written (ledger, audit, deliveries, alerts: $c0)" $?
keys Q

# --- the man page's KEYS section is the action table's ---------------------------
"$TALLY" console --keys-roff >"$tmp/keys.roff"
"$PYTHON3" -c 'import sys; sys.exit(0 if open(sys.argv[1]).read() in open(sys.argv[2]).read() else 1)' \
	"$tmp/keys.roff" "$SRCDIR/doc/tally.1"
ok "doc/tally.1 holds exactly the KEYS section tally console --keys-roff prints" $?

exit 0
