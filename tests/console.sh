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
set -u
TALLY=${TALLY:-$PWD/tally}
SRCDIR=${SRCDIR:-.}
PYTHON3=${PYTHON3:-python3}

if ! command -v tmux >/dev/null 2>&1; then
	echo "1..0 # SKIP tmux is not installed"
	exit 0
fi
tmp=$(mktemp -d)
sock="tally-console-$$"
cleanup() {
	tmux -L "$sock" kill-server >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
export HOME="$tmp" TZ=UTC LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color
unset STRIPE_API_KEY STRIPE_API_KEY_FILE STRIPE_WEBHOOK_SECRET TALLY_DB TALLY_CATALOG NO_COLOR
unset TMUX
cat="$SRCDIR/data/catalog.example.json"

n=0
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

echo "1..26"

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

# --- help and quit -------------------------------------------------------------
keys '?'
wait_for "keys here" && screen | grep -q "PgDn,C-f *page-down" && screen | grep -q "filter"
ok "? lists the keys from the action table" $?
keys Escape ':q' Enter
deadline=$((SECONDS + 10))
while [ ! -s "$tmp/exit" ] && [ $SECONDS -le $deadline ]; do sleep 0.1; done
[ "$(cat "$tmp/exit" 2>/dev/null)" = 0 ]
ok ":q leaves with status 0" $?

# --- read-only and NO_COLOR -----------------------------------------------------
tmux -L "$sock" new-session -d -s ro -x 100 -y 30 \
	"NO_COLOR=1 TALLY_CONFIG=/dev/null '$TALLY' --db '$tmp/m.db' --read-only console; sleep 5"
target=ro
wait_for "READ-ONLY" && wait_for "read-only mode" &&
	! tmux -L "$sock" capture-pane -t ro -p -e | grep -qaE $'\033\\[[0-9;]*(3[0-7]|4[0-7]|38;5)'
ok "read-only shows READ-ONLY, starts no sync, and NO_COLOR draws no colour" $?
keys Q

# --- the man page's KEYS section is the action table's ---------------------------
"$TALLY" console --keys-roff >"$tmp/keys.roff"
"$PYTHON3" -c 'import sys; sys.exit(0 if open(sys.argv[1]).read() in open(sys.argv[2]).read() else 1)' \
	"$tmp/keys.roff" "$SRCDIR/doc/tally.1"
ok "doc/tally.1 holds exactly the KEYS section tally console --keys-roff prints" $?

exit 0
