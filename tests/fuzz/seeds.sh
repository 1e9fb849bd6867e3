#!/bin/bash
# seeds.sh NAME DIR: put NAME's seed corpus into DIR: the seeds kept in
# tests/fuzz/seeds/NAME, the saved crashes in tests/fuzz/regressions/NAME,
# and inputs the rest of the tests already use (sample and scenario logs,
# Stripe's fixtures, the example catalog).
set -u
SRCDIR=${SRCDIR:-.}
SHARED=${SHARED:-$SRCDIR/../shared}
name=$1
dir=$2
mkdir -p "$dir"
cp "$SRCDIR/tests/fuzz/seeds/$name/"* "$SRCDIR/tests/fuzz/regressions/$name/"* "$dir/" 2>/dev/null
i=0
add() {         # add FILE...: copy under a unique name
	local f
	for f in "$@"; do
		[ -f "$f" ] || continue
		i=$((i + 1))
		cp "$f" "$dir/extra-$i"
	done
}
case $name in
logread) add "$SRCDIR"/data/sample/*.log "$SRCDIR"/tests/scenarios/*/*.log ;;
decode) add "$SHARED"/stripe/fixtures/*.json ;;
catalog) add "$SRCDIR"/data/*.json ;;
esac
exit 0
