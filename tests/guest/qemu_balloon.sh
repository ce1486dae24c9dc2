#!/usr/bin/env bash
# Description: an unmodified Linux guest's virtio_balloon driver reports
# its free memory to examples/balloon-report through QEMU's generic
# vhost-user frontend (vhost-user-device-pci, virtio-id=5), and the host
# gets the memory back.  The guest (scripts/guest/init, vqtest=balloon)
# must negotiate VIRTIO_BALLOON_F_FREE_PAGE_REPORTING; it fills VQ_BALLOON_MIB
# (default 256) MiB of tmpfs, which the host sees as allocated blocks of
# QEMU's guest memory memfd, then frees it.  Pass: the memfd's allocated
# blocks drop by at least two thirds of what was freed, then
# `rmmod virtio_balloon` succeeds (QEMU writes the whole 8-byte config
# space; balloon-report must take it).  The guest loads the driver again
# (the device was reset) and the round is repeated.  At the end QEMU has
# logged no failure, and balloon-report refused nothing and exits
# cleanly.  Split, then packed.
#
# QEMU 10.0 does not let -device create vhost-user-device-pci: the test
# runs a copy of the binary with only that flag changed, made by
# scripts/guest/qemu-vud.sh (which refuses a binary it does not know).
# Usage: qemu_balloon.sh BUILD_DIR [split|packed...]
# Environment: VQ_BALLOON_MIB, VQCORE_GUEST_MEM (default 512M), VQ_SMP.
set -euo pipefail

build=$(cd "${1:?usage: qemu_balloon.sh BUILD_DIR [split|packed...]}" && pwd)
shift
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(split packed)
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mib=${VQ_BALLOON_MIB:-256}
export VQCORE_GUEST_MEM=${VQCORE_GUEST_MEM:-512M}

if ! "$src/scripts/install-deps" --qemu || ! command -v qemu-system-x86_64 >/dev/null; then
	echo "SKIP: QEMU cannot be installed (scripts/install-deps --qemu)"
	exit 77
fi
"$src/scripts/guest/build-guest.sh" >/dev/null
VQ_QEMU=$("$src/scripts/guest/qemu-vud.sh" | tail -n 1)
export VQ_QEMU

VQ_WORK=$(mktemp -d "/tmp/vqcore-balloon-XXXXXX")
. "$src/scripts/guest/qemu-lib.sh"

bpid=
backend_start() {
	local i
	rm -f "$VQ_WORK/b.sock"
	"$@" --socket-path="$VQ_WORK/b.sock" >"$VQ_WORK/backend.log" 2>&1 </dev/null &
	bpid=$!
	for i in $(seq 100); do
		[ -S "$VQ_WORK/b.sock" ] && return 0
		kill -0 "$bpid" 2>/dev/null || break
		sleep 0.1
	done
	echo "backend did not start: $*"
	sed 's/^/  backend: /' "$VQ_WORK/backend.log"
	return 1
}
# backend_stop: TERM; returns its exit status.
backend_stop() {
	local rc=0
	[ -n "$bpid" ] || return 0
	kill -TERM "$bpid" 2>/dev/null || true
	wait "$bpid" 2>/dev/null || rc=$?
	bpid=
	return $rc
}
cleanup() {
	vq_qemu_kill_all
	backend_stop || true
	rm -rf "$VQ_WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# guest_mem_bytes PID: allocated bytes of QEMU's guest memory memfd
# (memory-backend-memfd: /proc/PID/fd/N -> "/memfd:memory-backend-memfd (deleted)").
guest_mem_bytes() {
	local f
	for f in /proc/"$1"/fd/*; do
		case "$(readlink "$f" 2>/dev/null)" in
		"/memfd:memory-backend-memfd (deleted)")
			stat -L -c '%b %B' "$f" | awk '{ print $1 * $2 }'
			return 0
			;;
		esac
	done
	echo "no memfd:memory-backend-memfd among the fds of QEMU $1" >&2
	return 1
}

# cycle MODE N: round N of the guest's fill, free, rmmod; sets $a1 and
# $drop for the caller's messages.
cycle() {
	local mode=$1 n=$2 pid a0 a need t0 t
	pid=$(vq_qemu_pid g)
	if ! vq_wait_log g "^VQBALLOON ready $n" 200; then
		echo "FAIL: balloon $mode: round $n: the guest's balloon driver did not come up"
		vq_show_failure g
		sed 's/^/  backend: /' "$VQ_WORK/backend.log" | tail -n 20
		return 1
	fi
	a0=$(guest_mem_bytes "$pid") || return 1
	vq_type g fill
	if ! vq_wait_log g "^VQBALLOON filled $n" 200; then
		echo "FAIL: balloon $mode: round $n: the guest did not fill its tmpfs"
		vq_show_failure g
		return 1
	fi
	a1=$(guest_mem_bytes "$pid") || return 1
	echo "  round $n: memfd allocated: $((a0 >> 20)) MiB before, $((a1 >> 20)) MiB after filling $mib MiB"
	# The guest keeps reporting while it fills, so other free pages go
	# back to the host meanwhile and the net growth is a little below
	# the fill (227 MiB of 256 once, on a loaded machine): 3/4 shows the
	# fill reached host memory, which is what the rest of the round needs.
	if [ $((a1 - a0)) -lt $((mib * 1024 * 1024 * 3 / 4)) ]; then
		echo "FAIL: balloon $mode: round $n: filling $mib MiB allocated only $(((a1 - a0) >> 20)) MiB on the host"
		return 1
	fi
	vq_type g free
	if ! vq_wait_log g "^VQBALLOON freed $n" 120; then
		echo "FAIL: balloon $mode: round $n: no VQBALLOON freed"
		vq_show_failure g
		return 1
	fi
	# Linux reports free pageblocks 2 s after they gather; 180 s is a
	# hang detector for a loaded machine, not a figure.
	need=$((mib * 1024 * 1024 * 2 / 3))
	t0=$(date +%s%N)
	a=$a1
	for t in $(seq 360); do
		a=$(guest_mem_bytes "$pid") || return 1
		[ $((a1 - a)) -ge "$need" ] && break
		sleep 0.5
	done
	drop=$((a1 - a))
	echo "  round $n: memfd allocated: $((a >> 20)) MiB after freeing: $((drop >> 20)) MiB back" \
		"(at least $((need >> 20)) needed) after $((($(date +%s%N) - t0) / 1000000)) ms"
	if [ "$drop" -lt "$need" ]; then
		echo "FAIL: balloon $mode: round $n: the host got $((drop >> 20)) MiB of $mib MiB back"
		vq_show_failure g
		sed 's/^/  backend: /' "$VQ_WORK/backend.log" | tail -n 20
		return 1
	fi
	vq_type g rmmod
	if ! vq_wait_log g "^VQBALLOON removed $n" 120; then
		echo "FAIL: balloon $mode: round $n: rmmod virtio_balloon failed"
		vq_show_failure g
		return 1
	fi
}

fail=0
round() {
	local mode=$1 args=() pk line status a1 drop
	echo "== balloon $mode"
	[ "$mode" = split ] && args=(--no-packed)
	backend_start "$build/examples/balloon-report" --verbose "${args[@]}" || return 1
	VQ_GUEST_APPEND="vqtest=balloon vqmib=$mib"
	vq_qemu_start g -chardev "socket,id=c0,path=$VQ_WORK/b.sock" \
		-device vhost-user-device-pci,chardev=c0,virtio-id=5,num_vqs=3,config_size=8 || return 1
	cycle "$mode" 1 || return 1
	# the driver is loaded again: the device was reset and starts anew
	cycle "$mode" 2 || return 1
	vq_wait_log g '^VQTEST RESULT ' 120 || true
	vq_qemu_wait g 30
	line=$(vq_result_line g)
	echo "  guest: ${line:-no result}"
	status=$(echo "$line" | cut -d' ' -f4)
	if [ "$status" != ok ]; then
		echo "FAIL: balloon $mode: the guest's test failed"
		vq_show_failure g
		return 1
	fi
	pk=$(vq_field "$line" packed)
	if [ "$pk" != "$([ "$mode" = packed ] && echo 1 || echo 0)" ]; then
		echo "FAIL: balloon $mode: the guest negotiated packed=$pk"
		return 1
	fi
	if grep -aiE 'fail|error' "$VQ_WORK/g.qemu"; then
		echo "FAIL: balloon $mode: QEMU logged a failure (above)"
		return 1
	fi
	if ! backend_stop; then
		echo "FAIL: balloon $mode: balloon-report did not exit cleanly"
		sed 's/^/  backend: /' "$VQ_WORK/backend.log" | tail -n 20
		return 1
	fi
	grep -a 'front-end gone\|done:' "$VQ_WORK/backend.log" | sed 's/^/  backend: /'
	if ! grep -aq 'actual = ' "$VQ_WORK/backend.log"; then
		echo "FAIL: balloon $mode: the guest's write of actual never reached balloon-report"
		return 1
	fi
	if grep -aE 'refused|rejected range|discard .*: ' "$VQ_WORK/backend.log"; then
		echo "FAIL: balloon $mode: balloon-report refused something (above)"
		return 1
	fi
	if ! grep -aqE 'done: [1-9][0-9]* reports, .* 0 rejected' "$VQ_WORK/backend.log"; then
		echo "FAIL: balloon $mode: balloon-report's exit line shows no reports or a rejection"
		return 1
	fi
	echo "ok: balloon $mode"
}

for m in "${modes[@]}"; do
	if ! round "$m"; then
		fail=1
	fi
	vq_qemu_kill_all
	VQ_QEMU_NAMES=()
	backend_stop || true
done
[ $fail -eq 0 ] && echo "PASS: a Linux guest's free page reporting returns its memory, ${modes[*]}"
exit $fail
