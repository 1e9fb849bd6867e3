# tests/lib/tap.sh: what the script tests share, sourced once at the top
# (after `set -u`):
#
#   . "${SRCDIR:-.}/tests/lib/tap.sh"
#   tap_setup NAME
#
# tap_setup resolves TALLY, SRCDIR and PYTHON3 (set by make check) to
# absolute paths, PYTHON3 to the interpreter itself rather than a version
# manager's shim (a shim costs a third of a second per call); makes the
# work directory $tmp (kept with KEEP=1) with a private HOME inside it;
# clears every variable that could reach a real mirror, account or key
# (TALLY_CONFIG becomes /dev/null: a test writes its own); and installs the
# EXIT trap that stops what the test started (at_exit) and removes $tmp.
#
# Then:
#   report DESC STATUS [DIAG-FILE]   one TAP line; a failure shows the file
#   sql DB QUERY [ARGS...]           read-only query, rows as a|b|c
#   wait_file FILE [TENTHS]          until FILE is non-empty (default 15 s)
#   stop_pid PID                     kill and reap a background process
#   at_exit 'COMMAND'                run COMMAND (evaluated then) at exit
#   fake_start DIR                   serve DIR/state.json with the fake
#                                    Stripe; sets fakepid, STRIPE_API_BASE
#                                    and STRIPE_API_KEY (=$KEY)
#   fake_stop
#   fake_post PATH [JSON]            POST to the fake's control endpoints
#   now_of EXPECTED-JSON             the "now" of a generated history

tap_setup() {
	TALLY=${TALLY:-$PWD/tally}
	SRCDIR=${SRCDIR:-.}
	PYTHON3=${PYTHON3:-python3}
	PYTHON3=$("$PYTHON3" -c 'import sys; print(sys.executable)') || exit 1
	case "$TALLY" in /*) ;; *) TALLY=$PWD/$TALLY ;; esac
	SRCDIR=$(cd "$SRCDIR" && pwd)
	GEN="$SRCDIR/tests/lib/stripe_events.py"
	FAKE="$SRCDIR/tests/lib/fake_stripe.py"
	MIRROR="$SRCDIR/tests/lib/mirror.py"
	CATALOG="$SRCDIR/data/catalog.example.json"
	KEY=${KEY:-sk_test_tally_fake_0000000000}
	export PYTHONDONTWRITEBYTECODE=1

	tmp=$(mktemp -d "${TMPDIR:-/tmp}/tally-$1.XXXXXX") || exit 1
	tap_exit=
	fakepid=
	trap tap_cleanup EXIT
	mkdir -p "$tmp/home"
	export HOME="$tmp/home" TALLY_CONFIG=/dev/null
	unset TALLY_DB TALLY_CATALOG TALLY_NOW TALLY_OPERATOR XDG_DATA_HOME \
		STRIPE_API_KEY STRIPE_API_KEY_FILE STRIPE_API_BASE STRIPE_WEBHOOK_SECRET
	n=0
}

tap_cleanup() {
	eval "$tap_exit"
	fake_stop
	if [ "${KEEP:-0}" = 1 ]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
}

at_exit() { tap_exit="$tap_exit $1;"; }

stop_pid() {
	[ -n "${1:-}" ] || return 0
	kill "$1" 2>/dev/null && wait "$1" 2>/dev/null
	return 0
}

report() {
	n=$((n + 1))
	if [ "$2" = 0 ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		if [ -n "${3:-}" ] && [ -s "$3" ]; then
			sed -e 's/^# //' -e 's/^/# /' "$3" | head -40
		fi
	fi
}

sql() { "$PYTHON3" -c 'import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
for r in c.execute(sys.argv[2], sys.argv[3:]):
    print("|".join("" if v is None else str(v) for v in r))' "$@"; }

wait_file() {
	local i
	for i in $(seq 1 "${2:-150}"); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

fake_start() {
	rm -f "$1/port" "$1/requests.jsonl" "$1/writes.jsonl"
	"$PYTHON3" "$FAKE" --state "$1" --port-file "$1/port" 2>"$1/fake.err" &
	fakepid=$!
	wait_file "$1/port" 100
	STRIPE_API_BASE="http://127.0.0.1:$(cat "$1/port")"
	export STRIPE_API_BASE STRIPE_API_KEY=$KEY
}

fake_stop() {
	stop_pid "$fakepid"
	fakepid=
}

fake_post() {
	"$PYTHON3" -c 'import sys, urllib.request
r = urllib.request.Request(sys.argv[1] + sys.argv[2], data=sys.argv[3].encode(), method="POST",
                           headers={"Content-Type": "application/json"})
urllib.request.urlopen(r).read()' "$STRIPE_API_BASE" "$1" "${2:-{\}}"
}

now_of() {
	"$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1]))["now"])' "$1"
}
