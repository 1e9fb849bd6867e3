#!/bin/bash
# Scenario tests (TAP): every folder under tests/scenarios holds input logs,
# `env` (fixed clock, signing secret), `steps` and expect/NAME.json.  Each step
# runs `tally --json ARGS` on a fresh mirror for the scenario and must exit
# with the expected code and print the expected JSON.  A step may end in
# @VAR=VALUE words that set the environment for that step alone.
#
# BLESS=1 writes the actual outputs as the expectations (review them!).
set -u
TALLY=${TALLY:-$PWD/tally}
SRCDIR=${SRCDIR:-.}
PYTHON3=${PYTHON3:-python3}
BLESS=${BLESS:-0}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

total=0
for d in "$SRCDIR"/tests/scenarios/*/; do
	[ -f "$d/steps" ] || continue
	total=$((total + $(grep -cv '^#' "$d/steps")))
done
echo "1..$total"

n=0
for d in "$SRCDIR"/tests/scenarios/*/; do
	[ -f "$d/steps" ] || continue
	d=$(cd "$d" && pwd)
	name=$(basename "$d")
	db="$tmp/$name.db"
	catalog="$SRCDIR/data/catalog.example.json"
	[ -f "$d/catalog.json" ] && catalog="$d/catalog.json"
	mkdir -p "$tmp/home"
	while read -r step code args; do
		case "$step" in ''|'#'*) continue ;; esac
		n=$((n + 1))
		extra=()
		words=()
		for w in $args; do
			case "$w" in @*=*) extra+=("${w#@}") ;; *) words+=("$w") ;; esac
		done
		out="$tmp/$name.$step.out"
		(
			cd "$d" || exit 99
			set -a
			. "$d/env"
			set +a
			env HOME="$tmp/home" TALLY_CONFIG=/dev/null "${extra[@]}" \
				"$TALLY" --db "$db" --catalog "$catalog" --json "${words[@]}"
		) >"$out" 2>"$tmp/err"
		rc=$?
		expect="$d/expect/$step.json"
		if [ "$BLESS" = 1 ]; then
			mkdir -p "$d/expect"
			sed "s|$d|\$SCENARIO|g" "$out" > "$expect"
		fi
		if [ "$rc" != "$code" ]; then
			echo "not ok $n - $name: $step exits $rc, expected $code"
			sed 's/^/# /' "$tmp/err"
		elif [ ! -f "$expect" ]; then
			echo "not ok $n - $name: $step has no expectation ($expect)"
		elif msg=$("$PYTHON3" "$SRCDIR/tests/lib/jsoncmp.py" "$expect" "$out" "$d"); then
			echo "ok $n - $name: $step"
		else
			echo "not ok $n - $name: $step output differs"
			echo "$msg"
		fi
	done < "$d/steps"
done
