# Shell helpers to run DPDK's testpmd (Debian's dpdk 22.11) next to our
# backends, for bench/net-dpdk.sh and tests/integration/dpdk_*.sh.
# Source it; it defines functions only.
#
# testpmd runs interactive (-i) with its commands written into a fifo, so a
# script can start forwarding, read the port counters and stop it when it
# chooses.  Every testpmd gets its own --file-prefix (no clash between
# parallel runs) and --no-pci.

# dpdk_have: true when dpdk-testpmd is installed.
dpdk_have() { command -v dpdk-testpmd >/dev/null 2>&1; }

# dpdk_start VAR LOG ARGS...: start "dpdk-testpmd ARGS..." (ARGS include
# -i after the "--") reading commands from a fifo; its output goes to LOG.
# Sets VAR_pid and VAR_fd (the fifo's write end, for dpdk_cmd).
dpdk_start() {
	local var=$1 log=$2 fifo
	shift 2
	fifo=$(mktemp -u "${TMPDIR:-/tmp}/vqdpdk.XXXXXX")
	mkfifo "$fifo"
	dpdk-testpmd "$@" <"$fifo" >"$log" 2>&1 &
	eval "${var}_pid=$!"
	exec {fd}>"$fifo"
	rm -f "$fifo"
	eval "${var}_fd=$fd"
}

# dpdk_cmd VAR COMMAND: type COMMAND at testpmd VAR's prompt.
dpdk_cmd() {
	local fdvar="${1}_fd"
	echo "$2" >&"${!fdvar}"
}

# dpdk_wait_log LOG PATTERN SECONDS [PID]: wait until LOG matches the
# extended regex PATTERN.  Fails after SECONDS, or as soon as PID is gone.
dpdk_wait_log() {
	local log=$1 pat=$2 end=$((SECONDS + $3)) pid=${4:-}
	while ! grep -qE -- "$pat" "$log" 2>/dev/null; do
		if [ $SECONDS -ge $end ] || { [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; }; then
			return 1
		fi
		sleep 0.1
	done
}

# dpdk_quit VAR: "quit" at the prompt, close the fifo and wait for the
# process (SIGKILL after 20 s).  Returns testpmd's exit status.
dpdk_quit() {
	local pidvar="${1}_pid" fdvar="${1}_fd" pid rc=0 i
	pid=${!pidvar}
	if [ -n "${!fdvar:-}" ]; then
		echo quit >&"${!fdvar}" 2>/dev/null || true
		eval "exec ${!fdvar}>&-"
		eval "${fdvar}="
	fi
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" || rc=$?
	return $rc
}

# dpdk_forget PREFIX...: remove what DPDK leaves behind for each
# --file-prefix (its runtime directory: config, fbarrays, sockets).
dpdk_forget() {
	local p d
	for p in "$@"; do
		[ -n "$p" ] || continue
		for d in /var/run/dpdk "${XDG_RUNTIME_DIR:-/nonexistent}/dpdk" /tmp/dpdk; do
			[ -d "$d/$p" ] && rm -rf "${d:?}/${p:?}"
		done
	done
	return 0
}
