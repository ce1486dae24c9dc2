#!/usr/bin/env bash
# Description: examples/vhost-user-blk is killed with SIGKILL again and
# again under an unmodified QEMU (TCG) whose Linux guest does O_DIRECT
# writes of verifiable data on every queue, with requests in flight (the
# backend takes --latency-us per request) and with idle pauses, so that a
# kill also finds a queue with nothing in flight.  QEMU reconnects
# (reconnect-ms) and the new backend resumes every queue from the inflight
# area.  Then the monitor's stop/cont (GET_VRING_BASE, then a restart of the
# rings): the stopped backend must not spin, and the I/O must resume.  At
# the end the guest reads everything back: no acknowledged write may be
# lost, no stale resubmitted write may overwrite a newer one, and the guest
# must see no I/O error.  The host then checks the image file against the
# hash of what the guest says it must hold.
# Usage: qemu_restart.sh BUILD_DIR MODE QUEUES   (MODE split|packed; QUEUES 1
# or 2: with 2, num-queues is left to QEMU's default, one per vCPU)
# Environment: VQ_KILLS (default 5), VQ_BLK_ARGS extra backend arguments.
set -euo pipefail

build=$(cd "${1:?usage: qemu_restart.sh BUILD_DIR MODE QUEUES}" && pwd)
mode=${2:?usage: qemu_restart.sh BUILD_DIR MODE QUEUES}
queues=${3:?usage: qemu_restart.sh BUILD_DIR MODE QUEUES}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
kills=${VQ_KILLS:-5}

if ! "$src/scripts/install-deps" --qemu || ! command -v qemu-system-x86_64 >/dev/null; then
	echo "SKIP: QEMU cannot be installed (scripts/install-deps --qemu)"
	exit 77
fi
"$src/scripts/guest/build-guest.sh" >/dev/null

VQ_WORK=$(mktemp -d "/tmp/vqcore-restart-XXXXXX")
. "$src/scripts/guest/qemu-lib.sh"
sock=$VQ_WORK/blk.sock
img=$VQ_WORK/disk.img
bpid=
backend_start() {
	# shellcheck disable=SC2086
	vq_backend_start "$sock" "$VQ_WORK/backend.log" "$build/examples/vhost-user-blk" \
		--socket-path="$sock" --blk-file="$img" --latency-us=2000 ${VQ_BLK_ARGS:-}
	local r=$?
	bpid=$VQ_BPID
	return $r
}
# connected: how many times a front-end has connected so far
connected() {
	grep -c 'front-end connected' "$VQ_WORK/backend.log" || true
}
# cpu_ticks PID: user + system clock ticks the process has used
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
cleanup() {
	vq_qemu_kill_all
	[ -n "$bpid" ] && kill -TERM "$bpid" 2>/dev/null
	wait 2>/dev/null || true
	rm -rf "$VQ_WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

die() {
	echo "FAIL: $mode, $queues queue(s): $*"
	vq_show_failure g
	echo "--- backend:"
	tail -n 40 "$VQ_WORK/backend.log" | sed 's/^/  backend: /'
	exit 1
}

truncate -s 64M "$img"
backend_start || exit 1
pk=""
[ "$mode" = packed ] && pk=",packed=on"
nq=",num-queues=1"
[ "$queues" = 1 ] || nq=""
VQ_GUEST_APPEND="vqtest=rwblk"
vq_qemu_start g -chardev "socket,id=c0,path=$sock,reconnect-ms=500" \
	-device "vhost-user-blk-pci,chardev=c0,disable-legacy=on$nq$pk" || exit 1
vq_wait_log g '^VQLOAD ready' 150 || die "the guest's load never started"
grep -a 'queues' "$VQ_WORK/g.log" | tr -d '\r' | sed 's/^/  guest: /' | tail -n 1

for k in $(seq "$kills"); do
	vq_kill_delay
	before=$(connected)
	kill -KILL "$bpid"
	wait "$bpid" 2>/dev/null || true
	echo "  kill $k: backend killed ($(grep -c 'VQLOAD\|I/O error' "$VQ_WORK/g.log" || true) console marks)"
	backend_start || exit 1
	for i in $(seq 200); do
		[ "$(connected)" -gt "$before" ] && break
		sleep 0.1
	done
	[ "$(connected)" -gt "$before" ] || die "QEMU did not reconnect after kill $k"
done

# stop/cont: QEMU stops the rings (GET_VRING_BASE) and keeps the kick fds,
# then starts them again with the same eventfds.  A backend polling a
# stopped ring, or an fd left in its epoll set, burns most of a core (~160
# ticks in 2 s); serving this guest's writes takes a few.
spin_check() {
	local t0 t1
	t0=$(cpu_ticks "$bpid")
	sleep 2
	t1=$(cpu_ticks "$bpid")
	echo "  backend $1: $((t1 - t0)) clock ticks in 2 s"
	[ $((t1 - t0)) -le 40 ] || die "the backend spins $1 ($((t1 - t0)) ticks in 2 s)"
}
sleep 1
vq_hmp g stop >/dev/null
sleep 1
spin_check "while the device is stopped"
vq_hmp g cont >/dev/null
sleep 1
spin_check "after cont, serving the guest"
vq_type g go
vq_wait_log g '^VQTEST RESULT ' 120 || true
vq_qemu_wait g 20
line=$(vq_result_line g)
echo "  guest: ${line:-no result}"
[ "$(echo "$line" | cut -d' ' -f4)" = ok ] || die "the guest's check failed"
want_packed=0
[ "$mode" = packed ] && want_packed=1
[ "$(vq_field "$line" packed)" = $want_packed ] || die "the guest negotiated packed=$(vq_field "$line" packed)"
if grep -aq 'I/O error' "$VQ_WORK/g.log"; then
	grep -a 'I/O error' "$VQ_WORK/g.log" | head -n 5
	die "the guest saw I/O errors"
fi
# What the guest acknowledged must be in the file, as the host reads it.
bytes=$(vq_field "$line" bytes)
want=$(vq_field "$line" fnv)
guest=$("$src/scripts/guest/build-guest.sh" 2>/dev/null | tail -n 1)
have=$(zcat "$guest/initramfs.gz" | (cd "$VQ_WORK" && cpio -id --quiet '*bin/vqload') && "$VQ_WORK/bin/vqload" fnv "$img" "$bytes")
[ "$have" = "$want" ] || die "the image file does not hold what the guest acknowledged ($have != $want)"
echo "PASS: $kills backend kills and a stop/cont under a writing guest, $mode, $queues queue(s); image checked on the host"
