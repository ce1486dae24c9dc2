#!/usr/bin/env bash
# Description: examples/vhost-user-net --mode=icmpecho is killed with
# SIGKILL and restarted on the same socket, again and again, under an
# unmodified QEMU (TCG) whose Linux guest sends ICMP echo requests with
# known payloads every 10 ms (vqload net-echo) and checks every reply.
# QEMU reconnects (reconnect-ms) and starts the new backend's queues from
# the base it keeps itself: a split ring's used index, and for a packed
# ring the ring's start, which is wrong after the first lap.  QEMU's
# virtio-net keeps no inflight area for its backend, so each backend keeps
# its inflight record in one file (--inflight-file) that the next one
# resumes from; without it the packed run stalls after the first kill
# (VQ_NO_INFLIGHT_FILE=1 shows it).  After
# every restart the host types "mark" on the console and waits until 20
# requests sent after the mark were answered, by the new backend: the
# old one is dead.  Then the monitor's stop/cont, and the same check.  At
# the end the guest counts what was lost: only requests in the device when
# it died may be (see LOSS below); a reply with wrong bytes, a send error,
# "broken" or "vqcore error" in a backend's log, a kernel complaint about
# the device or a QEMU vhost error after the reconnects fails the test.
# Usage: qemu_restart_net.sh BUILD_DIR split|packed
# Environment: VQ_KILLS (default 3), VQ_NET_ARGS extra backend arguments,
# VQ_NO_INFLIGHT_FILE=1 (no --inflight-file).
set -euo pipefail

build=$(cd "${1:?usage: qemu_restart_net.sh BUILD_DIR split|packed}" && pwd)
mode=${2:?usage: qemu_restart_net.sh BUILD_DIR split|packed}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
kills=${VQ_KILLS:-3}
# Requests that may go unanswered per kill.  The guest sends only while
# its link is up (QEMU takes the link down when the backend goes and up
# when the new one has started its queues), so what can be lost is what
# the dead backend had taken from the tx ring without publishing the
# reply, and a request sent in the moment the link comes back before the
# kernel's qdisc is active again.  At one request per 10 ms and replies
# within microseconds, that is one or two; 5 leaves room for a slow vCPU.
LOSS=5

if ! "$src/scripts/install-deps" --qemu || ! command -v qemu-system-x86_64 >/dev/null; then
	echo "SKIP: QEMU cannot be installed (scripts/install-deps --qemu)"
	exit 77
fi
"$src/scripts/guest/build-guest.sh" >/dev/null

VQ_WORK=$(mktemp -d "/tmp/vqcore-restart-net-XXXXXX")
. "$src/scripts/guest/qemu-lib.sh"
sock=$VQ_WORK/net.sock
inflight=--inflight-file=$VQ_WORK/net.inflight
[ "${VQ_NO_INFLIGHT_FILE:-0}" = 1 ] && inflight=
bpid=
nb=0
# backend_start: a new backend on $sock, logging to backend-$nb.log
backend_start() {
	nb=$((nb + 1))
	# shellcheck disable=SC2086
	vq_backend_start "$sock" "$VQ_WORK/backend-$nb.log" "$build/examples/vhost-user-net" \
		--socket-path="$sock" --mode=icmpecho $inflight ${VQ_NET_ARGS:-}
	local r=$?
	bpid=$VQ_BPID
	return $r
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
	local f
	echo "FAIL: $mode: $*"
	vq_show_failure g
	for f in "$VQ_WORK"/backend-*.log; do
		echo "--- $(basename "$f"):"
		tail -n 15 "$f" | sed 's/^/  backend: /'
	done
	exit 1
}

# wait_file FILE REGEX SEC: wait until FILE has a line matching REGEX
wait_file() {
	local _
	for _ in $(seq $(($3 * 10))); do
		grep -aqE "$2" "$1" && return 0
		sleep 0.1
	done
	return 1
}

# resumed WHAT: mark the requests sent from now on; 20 of them must be
# answered.  The limit only catches a hang.
marks=0
resumed() {
	marks=$((marks + 1))
	vq_type g mark
	vq_wait_log g "^VQLOAD resumed $marks " 60 ||
		die "no reply to the requests sent after $1"
	echo "  $1: $(grep -a "^VQLOAD resumed $marks " "$VQ_WORK/g.log" | tr -d '\r')"
}

backend_start || exit 1
pk=""
[ "$mode" = packed ] && pk=",packed=on"
VQ_GUEST_APPEND="vqtest=echonet vqip=192.0.2.1/24 vqpeer=192.0.2.2"
vq_qemu_start g -chardev "socket,id=c0,path=$sock,reconnect-ms=500" \
	-netdev vhost-user,id=n0,chardev=c0 \
	-device "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,disable-legacy=on$pk" || exit 1
# QEMU shares the two cores with the backends, the fuzzers and the builds.
renice -n 5 -p "$(vq_qemu_pid g)" >/dev/null
vq_wait_log g '^VQLOAD ready' 150 || die "the guest's load never started"
resumed "the start"

for k in $(seq "$kills"); do
	vq_kill_delay
	kill -KILL "$bpid"
	wait "$bpid" 2>/dev/null || true
	backend_start || exit 1
	# QEMU has reconnected when it has started both queues again.
	if ! wait_file "$VQ_WORK/backend-$nb.log" 'rx queue started' 30 ||
		! wait_file "$VQ_WORK/backend-$nb.log" 'tx queue started' 30; then
		die "QEMU did not reconnect after kill $k"
	fi
	resumed "kill $k"
done

# stop/cont: GET_VRING_BASE on a live backend, then the rings restarted
vq_hmp g stop >/dev/null
sleep 1
vq_hmp g cont >/dev/null
resumed "stop/cont"

vq_type g go
vq_wait_log g '^VQTEST RESULT ' 60 || true
vq_qemu_wait g 20
line=$(vq_result_line g)
echo "  guest: ${line:-no result}"
[ "$(echo "$line" | cut -d' ' -f4)" = ok ] || die "the guest's check failed"
want_packed=0
[ "$mode" = packed ] && want_packed=1
[ "$(vq_field "$line" packed)" = $want_packed ] || die "the guest negotiated packed=$(vq_field "$line" packed)"
lost=$(vq_field "$line" lost)
[ "$lost" -le $((kills * LOSS)) ] ||
	die "$lost requests lost in $kills kills (at most $LOSS per kill)"
[ "$(vq_field "$line" downs)" -ge "$kills" ] ||
	die "the guest's link went down $(vq_field "$line" downs) times for $kills kills"
# The kernel's complaints about a virtio device or its tx queue.
if grep -aiE 'NETDEV WATCHDOG|virtio_net.*(error|fail|bad)|is not a head|virtio.*broken|BUG:|WARNING:' \
	"$VQ_WORK/g.log" | tr -d '\r' | grep . >"$VQ_WORK/kernel-errors"; then
	sed 's/^/  guest: /' "$VQ_WORK/kernel-errors" | head -n 5
	die "the guest's kernel complained"
fi
# The backends: no error, and no warning either.  QEMU sends a split
# ring's used index as the base (it reads it back itself when the backend
# is gone), so "resuming there" would mean the base was misread.
for f in "$VQ_WORK"/backend-*.log; do
	if grep -E 'broken|vqcore (error|warn)' "$f"; then
		die "$(basename "$f") reports an error or a warning"
	fi
done
# QEMU: on each kill it tries GET_VRING_BASE on the closed socket, once per
# queue ("Failed to set msg fds.", "vhost VQ N ring restore failed: -22").
# Anything else, or a failed GET_VRING_BASE beyond the kills (at the stop),
# is a vhost error; so is QEMU's warning that the backend offers
# VHOST_USER_PROTOCOL_F_CONFIG, which its virtio-net does not use (the
# example offers it only with --config-space).
restore=$(grep -c 'ring restore failed' "$VQ_WORK/g.qemu" || true)
if grep -vE 'Failed to set msg fds\.$|vhost VQ [01] ring restore failed: -22: Invalid argument \(22\)$' \
	"$VQ_WORK/g.qemu" >"$VQ_WORK/qemu-other"; then
	sed 's/^/  qemu: /' "$VQ_WORK/qemu-other"
	die "QEMU reported more than the kills"
fi
[ "$restore" -le $((2 * kills)) ] || die "QEMU failed to read a ring base $restore times for $kills kills"
echo "PASS: $kills kills of the net backend and a stop/cont under a pinging guest, $mode;" \
	"$lost of $(vq_field "$line" sent) requests lost; QEMU could not read $restore ring bases of the dead backends"
