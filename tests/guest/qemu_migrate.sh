#!/usr/bin/env bash
# Description: live migration of a real guest between two unmodified QEMU
# (TCG) instances, each with its own libvqcore example backend, while the
# guest keeps the device busy.  blk: both backends serve the same disk
# image (shared storage); the guest reads known data with O_DIRECT into
# buffers it keeps, and writes.  net: the guest sends ICMP echo requests
# with known payloads to examples/vhost-user-net --mode=icmpecho and leaves
# the replies queued on its socket, in the buffers the device wrote.  The
# migration is slowed (max-bandwidth) so that it runs while the device
# writes guest memory under the dirty log.  After the switch the guest
# checks everything it holds against what it must be and prints the result.
# A page the device wrote without logging it reaches the destination stale,
# and the check fails.  Split, then packed.  For net, the destination's
# announcement (VHOST_USER_SEND_RARP) must reach the guest and QEMU must not
# warn that it cannot announce.  A migration still running after
# VQ_MIG_SLOW_SECS (default 25) gets more bandwidth and a longer downtime
# limit so that it ends however fast the guest dirties its memory.
# Usage: qemu_migrate.sh BUILD_DIR blk|net [split|packed...]
# Environment: VQ_BLK_ARGS / VQ_NET_ARGS extra backend arguments,
# VQ_MIG_BANDWIDTH (default 16M), VQ_MIG_SLOW_SECS (default 25),
# VQ_SMP (default 2).
set -euo pipefail

build=$(cd "${1:?usage: qemu_migrate.sh BUILD_DIR blk|net}" && pwd)
dev=${2:?usage: qemu_migrate.sh BUILD_DIR blk|net}
shift 2
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(split packed)
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

if ! "$src/scripts/install-deps" --qemu || ! command -v qemu-system-x86_64 >/dev/null; then
	echo "SKIP: QEMU cannot be installed (scripts/install-deps --qemu)"
	exit 77
fi
"$src/scripts/guest/build-guest.sh" >/dev/null

VQ_WORK=$(mktemp -d "/tmp/vqcore-migrate-$dev-XXXXXX")
. "$src/scripts/guest/qemu-lib.sh"

declare -A bpid
backend_start() {  # NAME CMD...
	local name=$1
	shift
	: >"$VQ_WORK/backend-$name.log"
	vq_backend_start "$VQ_WORK/$name.sock" "$VQ_WORK/backend-$name.log" \
		"$@" --socket-path="$VQ_WORK/$name.sock"
	local r=$?
	bpid[$name]=$VQ_BPID
	return $r
}
backends_stop() {
	local n
	for n in "${!bpid[@]}"; do
		kill -TERM "${bpid[$n]}" 2>/dev/null || true
		wait "${bpid[$n]}" 2>/dev/null || true
	done
	bpid=()
}
cleanup() {
	vq_qemu_kill_all
	backends_stop
	rm -rf "$VQ_WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail=0
round() {
	local mode=$1 pk="" dargs=() line status pbit mig i t0 raised
	[ "$mode" = packed ] && pk=",packed=on"
	echo "== $dev $mode"
	case $dev in
	blk)
		truncate -s 64M "$VQ_WORK/disk.img"
		# shellcheck disable=SC2086
		backend_start a "$build/examples/vhost-user-blk" --blk-file="$VQ_WORK/disk.img" ${VQ_BLK_ARGS:-} || return 1
		# shellcheck disable=SC2086
		backend_start b "$build/examples/vhost-user-blk" --blk-file="$VQ_WORK/disk.img" ${VQ_BLK_ARGS:-} || return 1
		VQ_GUEST_APPEND="vqtest=migblk"
		dargs=(-device "vhost-user-blk-pci,chardev=c0,disable-legacy=on$pk")
		;;
	net)
		# shellcheck disable=SC2086
		backend_start a "$build/examples/vhost-user-net" --mode=icmpecho ${VQ_NET_ARGS:-} || return 1
		# shellcheck disable=SC2086
		backend_start b "$build/examples/vhost-user-net" --mode=icmpecho ${VQ_NET_ARGS:-} || return 1
		VQ_GUEST_APPEND="vqtest=mignet vqip=192.0.2.1/24 vqpeer=192.0.2.2 init_on_alloc=0"
		dargs=(-netdev vhost-user,id=n0,chardev=c0
			-device "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,disable-legacy=on$pk")
		;;
	esac
	vq_qemu_start src -chardev "socket,id=c0,path=$VQ_WORK/a.sock" "${dargs[@]}" || return 1
	vq_qemu_start dst -chardev "socket,id=c0,path=$VQ_WORK/b.sock" "${dargs[@]}" \
		-incoming "unix:$VQ_WORK/mig.sock" || return 1
	if ! vq_wait_log src '^VQLOAD ready' 150; then
		echo "FAIL: $dev $mode: the guest's load never started"
		vq_show_failure src
		return 1
	fi
	sleep 1
	vq_hmp src "migrate_set_parameter max-bandwidth ${VQ_MIG_BANDWIDTH:-16M}" >/dev/null
	vq_hmp src "migrate -d unix:$VQ_WORK/mig.sock" >/dev/null
	mig=
	t0=$SECONDS raised=0
	for i in $(seq 300); do
		mig=$(vq_hmp src "info migrate")
		echo "$mig" | grep -qE 'status: *(completed|failed|cancelled)' && break
		# A guest that dirties its kept buffers faster than the slow
		# bandwidth can resend them never converges.  Once the device has
		# written under the log for a while, let the migration finish: a
		# page it wrote and did not log still reaches the destination
		# stale.
		if [ $raised = 0 ] && [ $((SECONDS - t0)) -ge "${VQ_MIG_SLOW_SECS:-25}" ]; then
			raised=1
			echo "  src: still running after $((SECONDS - t0)) s," \
				"$(echo "$mig" | grep -E '[Dd]irty sync' | tr -s ' ');" \
				"raising the bandwidth and the downtime limit"
			vq_hmp src "migrate_set_parameter downtime-limit 2000" >/dev/null
			vq_hmp src "migrate_set_parameter max-bandwidth 1G" >/dev/null
		fi
		sleep 0.5
	done
	echo "$mig" | grep -E 'status|[Tt]otal time|[Dd]irty sync|[Tt]ransferred' | sed 's/^/  src: /'
	if ! echo "$mig" | grep -qE 'status: *completed'; then
		echo "FAIL: $dev $mode: the migration did not complete"
		vq_show_failure src
		vq_show_failure dst
		return 1
	fi
	vq_hmp src quit >/dev/null || true
	vq_qemu_wait src 10
	sleep 1
	vq_type dst go
	vq_wait_log dst '^VQTEST RESULT ' 120 || true
	vq_qemu_wait dst 20
	line=$(vq_result_line dst)
	echo "  guest: ${line:-no result}"
	status=$(echo "$line" | cut -d' ' -f4)
	pbit=$(vq_field "$line" packed)
	if [ "$status" != ok ]; then
		echo "FAIL: $dev $mode: the guest's check failed after migration"
		vq_show_failure dst
		for n in a b; do
			echo "--- backend $n:"
			tail -n 20 "$VQ_WORK/backend-$n.log" | sed 's/^/  backend: /'
		done
		return 1
	fi
	if [ "$pbit" != "$([ "$mode" = packed ] && echo 1 || echo 0)" ]; then
		echo "FAIL: $dev $mode: the guest negotiated packed=$pbit"
		return 1
	fi
	if [ "$dev" = net ]; then
		if grep -q 'fails to broadcast fake RARP' "$VQ_WORK/dst.qemu"; then
			echo "FAIL: net $mode: QEMU could not announce the guest after migration"
			sed 's/^/  qemu: /' "$VQ_WORK/dst.qemu"
			return 1
		fi
		if [ "$(vq_field "$line" rarp)" -lt 1 ]; then
			echo "FAIL: net $mode: no announcement for the guest's MAC reached it"
			return 1
		fi
	fi
	echo "ok: $dev $mode"
	return 0
}

for m in "${modes[@]}"; do
	if ! round "$m"; then
		fail=1
	fi
	vq_qemu_kill_all
	VQ_QEMU_NAMES=()
	backends_stop
done
[ $fail -eq 0 ] && echo "PASS: live migration of a busy $dev guest, ${modes[*]}"
exit $fail
