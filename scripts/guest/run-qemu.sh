#!/usr/bin/env bash
# Boot the libvqcore test guest once under QEMU (TCG) against a vhost-user
# backend and check the result line the guest prints.
#
# Usage: scripts/guest/run-qemu.sh --test=blk|net [--socket=PATH] [options]
#   --test=blk|net      which device/test
#   --socket=PATH       the backend's vhost-user unix socket (QEMU connects)
#   --packed            add packed=on to the device; then the guest must
#                       report that VIRTIO_F_RING_PACKED (bit 34) really was
#                       negotiated.  Without it the guest must report packed=0.
#   --log=FILE          console log (default: a temporary file, kept on failure)
#   --timeout=SEC       bound on the QEMU run (default 120)
#   --check-file=FILE   blk: after the run, the first MiBs of FILE must hold
#                       the pattern the guest wrote (md5 from the result line)
#   --mib=N             blk: MiB per pattern (default 4; the disk needs 4*N MiB)
#   --ip=A/L --peer=A   net: guest address and the backend's (192.0.2.1/24,
#                       192.0.2.2)
#   --pings=N           net: echo requests per round (default 5)
#   --builtin-disk=FILE blk self-test: QEMU's own virtio-blk on FILE, no socket
#   --slirp             net self-test: QEMU's own virtio-net on user networking
#                       (guest 10.0.2.15/24 pings 10.0.2.2), no socket
#   --smp=N             guest CPUs (default 2)
#   --num-queues=N      blk: the device's num-queues (default: QEMU's, one
#                       queue per vCPU)
#   --qemu-arg=ARG      extra QEMU argument (repeatable)
# Exit status: 0 when the guest says ok and the packed bit is what was asked,
# 1 otherwise (the reason is printed, the console log kept), 2 on bad usage.
# Environment: VQCORE_GUEST_CACHE (see build-guest.sh), VQCORE_GUEST_MEM
# (guest memory, default 256M).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

test= sock= packed=0 log= tmo=120 check_file= mib=4 ip= peer= pings=5
builtin_disk= slirp=0 extra=() smp=2 nq=""
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
for a in "$@"; do
	case "$a" in
	--test=*) test=${a#*=} ;;
	--socket=*) sock=${a#*=} ;;
	--packed) packed=1 ;;
	--log=*) log=${a#*=} ;;
	--timeout=*) tmo=${a#*=} ;;
	--check-file=*) check_file=${a#*=} ;;
	--mib=*) mib=${a#*=} ;;
	--ip=*) ip=${a#*=} ;;
	--peer=*) peer=${a#*=} ;;
	--pings=*) pings=${a#*=} ;;
	--builtin-disk=*) builtin_disk=${a#*=} ;;
	--slirp) slirp=1 ;;
	--qemu-arg=*) extra+=("${a#*=}") ;;
	--smp=*) smp=${a#*=} ;;
	--num-queues=*) nq=",num-queues=${a#*=}" ;;
	-h | --help) usage ;;
	*) echo "run-qemu: unknown argument $a" >&2; usage ;;
	esac
done
case "$test" in blk | net) ;; *) echo "run-qemu: --test=blk|net required" >&2; usage ;; esac
if [ -z "$sock" ] && [ -z "$builtin_disk" ] && [ $slirp -eq 0 ]; then
	echo "run-qemu: --socket=PATH required" >&2
	usage
fi
say() { echo "run-qemu: $*" >&2; }

guest=$("$here/build-guest.sh" | tail -n 1)
[ -f "$guest/vmlinuz" ] && [ -f "$guest/initramfs.gz" ] || { say "no guest in '$guest'"; exit 1; }

keep_log=0
if [ -z "$log" ]; then
	log=$(mktemp /tmp/vqcore-guest-XXXXXX.log)
else
	keep_log=1
fi
: >"$log"

mem=${VQCORE_GUEST_MEM:-256M}
mode=split
pk=""
if [ $packed -eq 1 ]; then
	mode=packed
	pk=",packed=on"
fi
cmdline="console=ttyS0 panic=-1 vqtest=$test"
args=(-nodefaults -display none -no-reboot -accel tcg -M pc -smp "$smp" -m "$mem"
	-object "memory-backend-memfd,id=mem,size=$mem,share=on" -machine memory-backend=mem
	-serial "file:$log" -kernel "$guest/vmlinuz" -initrd "$guest/initramfs.gz")
if [ "$test" = blk ]; then
	cmdline+=" vqmib=$mib"
	if [ -n "$builtin_disk" ]; then
		args+=(-blockdev "driver=file,node-name=d0,filename=$builtin_disk,cache.direct=off"
			-device "virtio-blk-pci,drive=d0,disable-legacy=on$pk")
	else
		args+=(-chardev "socket,id=c0,path=$sock"
			-device "vhost-user-blk-pci,chardev=c0,disable-legacy=on$nq$pk")
	fi
else
	if [ $slirp -eq 1 ]; then
		ip=${ip:-10.0.2.15/24}
		peer=${peer:-10.0.2.2}
		args+=(-netdev user,id=n0 -device "virtio-net-pci,netdev=n0,disable-legacy=on$pk")
	else
		args+=(-chardev "socket,id=c1,path=$sock" -netdev vhost-user,id=n0,chardev=c1
			-device "virtio-net-pci,netdev=n0,disable-legacy=on$pk")
	fi
	cmdline+=" vqip=${ip:-192.0.2.1/24} vqpeer=${peer:-192.0.2.2} vqpings=$pings"
fi
args+=(-append "$cmdline" "${extra[@]}")

say "$test $mode: booting (log $log)"
start=$(date +%s.%N)
set +e
timeout --kill-after=5 "$tmo" qemu-system-x86_64 "${args[@]}" </dev/null >"$log.qemu" 2>&1
qrc=$?
set -e
secs=$(echo "$start $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }')

fail() {
	say "$test $mode: FAIL: $* (${secs}s)"
	if [ -s "$log.qemu" ]; then
		say "qemu said:"
		sed 's/^/  qemu: /' "$log.qemu" >&2
	fi
	if [ -s "$log" ]; then
		say "last console lines ($log):"
		tail -n 25 "$log" | sed 's/^/  | /' >&2
	else
		say "the console is empty: the guest never started (a vhost-user backend that does not answer blocks QEMU before boot)"
	fi
	rm -f "$log.qemu"
	exit 1
}

line=$(grep -a '^VQTEST RESULT ' "$log" | tail -n 1 | tr -d '\r' || true)
[ $qrc -eq 124 ] && fail "timeout after ${tmo}s${line:+ ($line)}"
[ -n "$line" ] || fail "no result line (qemu exit $qrc)"
say "$line"
field() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1; }
set -- $line
[ "$3" = "$test" ] || fail "result is for test '$3'"
[ "$4" = ok ] || fail "guest test failed"
got_packed=$(field packed)
[ "$got_packed" = $packed ] ||
	fail "asked for $mode but the guest negotiated packed=$got_packed features=$(field features)"
if [ "$test" = blk ] && [ -n "$check_file" ]; then
	want=$(field md5)
	m=$(field mib)
	have=$(head -c $((m * 1024 * 1024)) "$check_file" | md5sum | cut -d' ' -f1)
	[ "$have" = "$want" ] || fail "$check_file does not hold the guest's pattern ($have != $want)"
fi
[ $qrc -eq 0 ] || fail "qemu exit status $qrc after an ok result"
rm -f "$log.qemu"
[ $keep_log -eq 1 ] || rm -f "$log"
say "$test $mode: PASS (${secs}s)"
exit 0
