#!/usr/bin/env bash
# Description: examples/vhost-user-rng under an unmodified QEMU 10
# (vhost-user-rng-pci, one of QEMU's generic vhost-user-base devices) and
# an unmodified Linux guest reading /dev/hwrng through its own virtio-rng
# driver.  The backend serves a file of random bytes strictly in order
# (--source); the guest reads N bytes and prints their md5 and first 32
# bytes, and the first 4 bytes of every 64-byte unit.  The host finds the
# 32 bytes in the file (the kernel's hwrng core and the driver read a
# little ahead of the reader: the offset).  Linux 6.1's hwrng thread
# (khwrngd) keeps reading 64-byte units of the same stream once per crng
# reseed interval (at least a second) even at rng_core.default_quality=0,
# and they fall between the reader's units.  So the host walks the
# guest's units through the file, allowing whole missing units at that
# rate only, requires that the units it found have the guest's md5, and
# that the backend served at least everything read.
# Ring formats: vhost-user-base passes the backend's features to the guest
# and ignores packed=off, so "split" runs the backend with --no-packed and
# "packed" without it; the guest's negotiated features (bit 34) must say
# which one ran.  A third round, "ratelimit", runs packed with a rate limit
# smaller than what the guest reads: the bytes must still all arrive in
# order.
# Usage: qemu_rng.sh BUILD_DIR [split|packed|ratelimit...]  (default: all)
# Environment: VQ_RNG_BYTES (default 65536, a multiple of 64).  Exit 77 (skip) only when QEMU
# cannot be installed.
set -euo pipefail

build=$(cd "${1:?usage: qemu_rng.sh BUILD_DIR [split|packed|ratelimit...]}" && pwd)
shift
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(split packed ratelimit)
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=$build/examples/vhost-user-rng
nbytes=${VQ_RNG_BYTES:-65536}
[ $((nbytes % 64)) -eq 0 ] || { echo "FAIL: VQ_RNG_BYTES must be a multiple of 64"; exit 1; }

if ! "$src/scripts/install-deps" --qemu || ! command -v qemu-system-x86_64 >/dev/null; then
	echo "SKIP: QEMU cannot be installed (scripts/install-deps --qemu)"
	exit 77
fi
"$src/scripts/guest/build-guest.sh" >/dev/null
[ -x "$bin" ] || { echo "FAIL: $bin is not built"; exit 1; }

VQ_WORK=$(mktemp -d /tmp/vqcore-rng-XXXXXX)
. "$src/scripts/guest/qemu-lib.sh"

bpid=
backend_stop() {
	[ -n "$bpid" ] || return 0
	kill -TERM "$bpid" 2>/dev/null || true
	wait "$bpid" 2>/dev/null || true
	bpid=
}
cleanup() {
	vq_qemu_kill_all
	backend_stop
	rm -rf "$VQ_WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The source: random bytes, more than the guest reads.
head -c $((nbytes + 1048576)) /dev/urandom >"$VQ_WORK/source"
srchex=$(od -An -v -tx1 "$VQ_WORK/source" | tr -d ' \n')

fail=0
round() {
	local mode=$1 want_packed=1 args=() line head md5 pos off have served i
	case "$mode" in
	split) want_packed=0; args=(--no-packed) ;;
	packed) ;;
	ratelimit) args=(--max-bytes=16384 --period=200) ;;
	esac
	rm -f "$VQ_WORK/rng.sock"
	"$bin" --socket-path="$VQ_WORK/rng.sock" --source="$VQ_WORK/source" "${args[@]}" \
		>"$VQ_WORK/backend.log" 2>&1 </dev/null &
	bpid=$!
	for i in $(seq 100); do
		[ -S "$VQ_WORK/rng.sock" ] && break
		kill -0 "$bpid" 2>/dev/null || break
		sleep 0.1
	done
	if ! [ -S "$VQ_WORK/rng.sock" ]; then
		echo "FAIL: rng $mode: the backend did not start"
		sed 's/^/  backend: /' "$VQ_WORK/backend.log"
		fail=1
		return
	fi
	VQ_GUEST_APPEND="vqtest=rng vqrng=$nbytes rng_core.default_quality=0" \
		vq_qemu_start g -chardev "socket,id=c0,path=$VQ_WORK/rng.sock" \
		-device vhost-user-rng-pci,chardev=c0 || { fail=1; backend_stop; return; }
	if ! vq_wait_log g '^VQTEST RESULT ' 240; then
		echo "FAIL: rng $mode: no result line from the guest"
		vq_show_failure g
		fail=1
	fi
	vq_qemu_wait g 30
	backend_stop
	line=$(vq_result_line g)
	[ -n "$line" ] || { sed 's/^/  backend: /' "$VQ_WORK/backend.log"; return; }
	echo "${line%% units=*}"
	set -- $line
	if [ "$4" != ok ]; then
		echo "FAIL: rng $mode: the guest's read failed"
		vq_show_failure g
		fail=1
		return
	fi
	if [ "$(vq_field "$line" packed)" != $want_packed ]; then
		echo "FAIL: rng $mode: the guest negotiated packed=$(vq_field "$line" packed)" \
			"features=$(vq_field "$line" features)"
		fail=1
	fi
	head=$(vq_field "$line" head)
	md5=$(vq_field "$line" md5)
	pos=$(awk -v p="$head" '{ print index($0, p) - 1 }' <<<"$srchex")
	if [ ${#head} -ne 64 ] || [ "$pos" -lt 0 ] || [ $((pos % 2)) -ne 0 ]; then
		echo "FAIL: rng $mode: the guest's first bytes ($head) are not in the served stream"
		fail=1
		return
	fi
	off=$((pos / 2))
	# Walk the guest's 64-byte units through the stream from there: each
	# is the next unit, or comes after whole units the kernel's hwrng
	# thread took (at most 4 in a row).  Prints the runs the guest read as
	# "start length", then "gaps N".
	vq_field "$line" units >"$VQ_WORK/units"
	runs=$(awk -v off="$off" -v ufile="$VQ_WORK/units" '
		{ s = s $0 }
		END {
			getline u <ufile
			p = off; rs = off; gaps = 0; n = length(u) / 8
			for (k = 0; k < n; k++) {
				want = substr(u, 8 * k + 1, 8)
				for (g = 0; g <= 4; g++)
					if (substr(s, 2 * (p + 64 * g) + 1, 8) == want)
						break
				if (g > 4) { print "lost", k; exit }
				if (g > 0) { print rs, p - rs; rs = p + 64 * g; gaps += g }
				p += 64 * (g + 1)
			}
			print rs, p - rs
			print "gaps", gaps
		}' <<<"$srchex")
	if grep -q '^lost' <<<"$runs"; then
		echo "FAIL: rng $mode: the guest's 64-byte unit $(sed -n 's/^lost //p' <<<"$runs")" \
			"is not among the next stream units"
		fail=1
		return
	fi
	gaps=$(sed -n 's/^gaps //p' <<<"$runs")
	# (tail gets SIGPIPE when head has enough)
	have=$(grep -v '^gaps' <<<"$runs" | while read -r start len; do
		(tail -c +$((start + 1)) "$VQ_WORK/source" || true) | head -c "$len"
	done | md5sum | cut -d' ' -f1)
	served=$(sed -n 's/.*stopping; served \([0-9]*\) bytes.*/\1/p' "$VQ_WORK/backend.log")
	secs=$(awk -v a="$(vq_field "$line" read_start)" -v b="$(vq_field "$line" read_end)" \
		'BEGIN { printf "%d", b - a + 1 }')
	echo "rng $mode: the guest's $nbytes bytes start at offset $off of the stream;" \
		"the kernel's hwrng thread took $gaps units of 64 bytes between them" \
		"(read in about $secs s, hwrngd=$(vq_field "$line" hwrngd));" \
		"the backend served ${served:-?} bytes"
	if [ "$have" != "$md5" ]; then
		echo "FAIL: rng $mode: the guest read other bytes than the stream holds at offset $off" \
			"($md5 != $have)"
		fail=1
	fi
	# khwrngd reads at most once per second of uptime (the crng reseed
	# interval, at least 1 s): more gaps than that are not its doing.
	if [ "$gaps" -gt $((secs + 2)) ]; then
		echo "FAIL: rng $mode: $gaps units missing in $secs s, more than the kernel's thread takes"
		fail=1
	fi
	nbytes_all=$((off + nbytes + 64 * gaps))
	if [ -z "$served" ] || [ "$served" -lt "$nbytes_all" ]; then
		echo "FAIL: rng $mode: the backend says it served ${served:-nothing}, less than $nbytes_all"
		fail=1
	fi
	if grep -q 'vqcore warn\|vqcore error' "$VQ_WORK/backend.log"; then
		echo "FAIL: rng $mode: the library warned:"
		grep 'vqcore ' "$VQ_WORK/backend.log" | sed 's/^/  backend: /'
		fail=1
	fi
}

for m in "${modes[@]}"; do
	round "$m"
	vq_qemu_kill_all
done
[ $fail -eq 0 ] && echo "PASS: vhost-user-rng in a real guest, ${modes[*]}"
exit $fail
