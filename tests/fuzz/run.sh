#!/bin/bash
# Run each libFuzzer target for SECONDS over its seed corpus (`make fuzz`,
# needs --enable-fuzzing).  Usage: run.sh SECONDS NAME...
# A crash leaves its input in fuzz-out/NAME/ of the build directory and
# fails the run; copy that file into tests/fuzz/regressions/NAME/ with the
# fix, and `make check` replays it from then on.
set -u
SRCDIR=${SRCDIR:-.}
seconds=$1
shift
status=0
for name in "$@"; do
	corpus=fuzz-out/$name/corpus
	mkdir -p "$corpus" "fuzz-out/$name/crashes"
	bash "$SRCDIR/tests/fuzz/seeds.sh" "$name" "$corpus"
	echo "fuzz $name: $seconds s, $(ls "$corpus" | wc -l) seeds"
	if ! "./tests/fuzz/fuzz-$name" -max_total_time="$seconds" -timeout=10 -max_len=65536 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="fuzz-out/$name/crashes/" "$corpus" >"fuzz-out/$name/log" 2>&1; then
		status=1
		echo "fuzz $name: FAILED; inputs in fuzz-out/$name/crashes/:"
		ls "fuzz-out/$name/crashes/"
		tail -40 "fuzz-out/$name/log"
	else
		echo "fuzz $name: ok, $(sed -n 's/^stat::number_of_executed_units: *//p' \
		    "fuzz-out/$name/log") inputs, no crash"
	fi
done
exit $status
