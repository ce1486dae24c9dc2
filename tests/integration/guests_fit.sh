#!/bin/bash
# Description: examples/guests-fit, scaled down: with free page reporting
# more guests fit in the budget than without.  $1 = build dir; 77 = skip.
set -u
bin="$1/examples/guests-fit"
[ -x "$bin" ] && [ -x "$1/examples/balloon-report" ] || exit 77
out=$("$bin" --guests-max=4 --guest-mib=32 --budget-mib=80 --delay-ms=50) || {
	echo "$out"; echo "guests-fit failed"; exit 1; }
echo "$out"
line=$(grep '^BENCH reporter-guests ' <<<"$out") || { echo "no BENCH line"; exit 1; }
with=$(sed -n 's/.* with=\([0-9]*\).*/\1/p' <<<"$line")
without=$(sed -n 's/.* without=\([0-9]*\).*/\1/p' <<<"$line")
# 80 MiB holds two 32 MiB guests that keep their memory; with reporting
# the memory comes back and all four fit.
[ "$with" = 4 ] && [ "$without" = 2 ] || { echo "expected with=4 without=2"; exit 1; }
