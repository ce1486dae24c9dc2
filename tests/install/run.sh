#!/usr/bin/env bash
# Description: install libvqcore into a temporary prefix; check the
# exported symbols and their version nodes against tests/install/symbols.txt,
# a man3 page for every exported function (with its header comment's text),
# and the installed tools (vqcore-blk, -net, -rng, -balloon: --help and a
# man8 page naming every option); then build a small consumer program out
# of tree twice (pkg-config, then CMake find_package) against the shared
# library, and run both.
set -euo pipefail
build=$1
here=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib* | head -n1)
test -e "$libdir/libvqcore.so.0" || { echo "no soname link libvqcore.so.0"; exit 1; }
test -e "$libdir/libvqcore.a" || { echo "no static library"; exit 1; }
test -e "$libdir/pkgconfig/vqcore.pc" || { echo "no vqcore.pc"; exit 1; }

# Only the public API may be exported.
bad=$(nm -D --defined-only "$libdir/libvqcore.so.0" | awk '{print $3}' | grep -v -E '^(vqcore_|VQCORE_)' || true)
if [ -n "$bad" ]; then echo "non-public symbols exported:"; echo "$bad"; exit 1; fi
soname=$(objdump -p "$libdir/libvqcore.so.0" | awk '/SONAME/{print $2}')
[ "$soname" = "libvqcore.so.0" ] || { echo "soname is $soname"; exit 1; }

# The ABI: exported symbols with their nodes against the committed list.
nm -D --defined-only "$libdir/libvqcore.so.0" | awk '{print $NF}' | LC_ALL=C sort >"$tmp/syms"
grep -v -e '^#' -e '^-' -e '^$' "$here/symbols.txt" | LC_ALL=C sort >"$tmp/base"
sed -n 's/^- *\([^ ]*\).*/\1/p' "$here/symbols.txt" | LC_ALL=C sort >"$tmp/removed"
gone=$(LC_ALL=C comm -23 "$tmp/base" "$tmp/syms")
back=$(LC_ALL=C comm -12 "$tmp/removed" "$tmp/syms")
new=$(LC_ALL=C comm -13 "$tmp/base" "$tmp/syms" | LC_ALL=C comm -23 - "$tmp/removed")
abi=0
if [ -n "$gone" ]; then
	echo "ABI: symbols of tests/install/symbols.txt the library no longer exports:"
	echo "$gone" | sed 's/^/  /'
	echo "A removal breaks programs linked against the release that had it.  If"
	echo "it is deliberate, announce it: move each line to the list of removed"
	echo "symbols at the end of tests/install/symbols.txt as '- NAME@NODE reason'."
	abi=1
fi
if [ -n "$back" ]; then
	echo "ABI: symbols announced as removed are exported again:"
	echo "$back" | sed 's/^/  /'
	abi=1
fi
if [ -n "$new" ]; then
	echo "ABI: new exported symbols, not in tests/install/symbols.txt:"
	echo "$new" | sed 's/^/  /'
	echo "If they are meant to be public, check each is in the node of the coming"
	echo "release in lib/libvqcore.map (never in a released node), then add these"
	echo "lines to tests/install/symbols.txt, sorted."
	abi=1
fi
[ $abi = 0 ] || exit 1

# man3: a page for every exported function, made from its doc comment.
man3=$prefix/share/man/man3
test -f "$man3/libvqcore.3" || { echo "no libvqcore.3 in $man3"; exit 1; }
missing=""
for f in $(sed -n 's/^\(vqcore_[a-z0-9_]*\)@.*/\1/p' "$tmp/syms" | sort -u); do
	test -s "$man3/$f.3" || missing="$missing $f"
done
[ -z "$missing" ] || { echo "exported functions without a man page:$missing"; exit 1; }
# the text is the header's (include/vqcore/vq.h and common.h)
grep -q "Reads the driver's index at most once" "$man3/vqcore_vq_get_bufs.3" ||
	{ echo "vqcore_vq_get_bufs.3 lacks its comment's text"; exit 1; }
grep -q '^vqcore_strerror \\- describe an error number' "$man3/vqcore_strerror.3" ||
	{ echo "vqcore_strerror.3 lacks its comment's summary"; exit 1; }
grep -q '^\.B #include <vqcore/vq.h>' "$man3/vqcore_vq_get_bufs.3" ||
	{ echo "vqcore_vq_get_bufs.3 names the wrong header"; exit 1; }

# The tools: installed under their names, started with no library path
# (their RUNPATH finds the library), --help names every option the man page
# must describe.
for tool in vqcore-blk vqcore-net vqcore-rng vqcore-balloon; do
	bin=$prefix/bin/$tool page=$prefix/share/man/man8/$tool.8
	test -x "$bin" || { echo "$tool is not installed in $prefix/bin"; exit 1; }
	test -s "$page" || { echo "$tool has no man page $page"; exit 1; }
	env -u LD_LIBRARY_PATH "$bin" --help >"$tmp/help" 2>&1 ||
		{ cat "$tmp/help"; echo "$tool --help failed"; exit 1; }
	head -n1 "$tmp/help" | grep -q "^usage: $tool " ||
		{ cat "$tmp/help"; echo "$tool --help does not start with 'usage: $tool'"; exit 1; }
	for opt in $(grep -o -- '--[a-z][a-z-]*' "$tmp/help" | sort -u); do
		grep -qF -- "\\-\\-${opt#--}" "$page" ||
			{ echo "$tool: $opt is in --help but not in $tool.8"; exit 1; }
	done
done

# 1. pkg-config
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046
flags=${VQCORE_CONSUMER_FLAGS:-}
# shellcheck disable=SC2086
cc -Wall -Werror $flags -o "$tmp/consumer-pc" "$here/consumer/consumer.c" $(pkg-config --cflags --libs vqcore)
LD_LIBRARY_PATH="$libdir" "$tmp/consumer-pc" pkg-config

# 2. find_package
cmake -S "$here/consumer" -B "$tmp/cbuild" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$tmp/cbuild" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cbuild/consumer" find_package
# 3. The README's device, extracted from README.md and built with the
#    README's command line: it must load libvqcore from this prefix with
#    no LD_LIBRARY_PATH (the rpath), serve its socket, and end cleanly on
#    SIGTERM (vqcore_vu_stop_on_signal).
readme=$here/../../README.md
awk '/<!-- mydev.c/ { on = 1; next } on && /^```c$/ { code = 1; next }
     code && /^```$/ { exit } code { print }' "$readme" >"$tmp/mydev.c"
[ -s "$tmp/mydev.c" ] || { echo "README.md holds no mydev.c block"; exit 1; }
cmd=$(grep -m1 '^cc mydev.c ' "$readme")
[ -n "$cmd" ] || { echo "README.md holds no 'cc mydev.c' line"; exit 1; }
# shellcheck disable=SC2086
(cd "$tmp" && eval "$cmd -Wall -Werror $flags -o mydev")
env -u LD_LIBRARY_PATH "$tmp/mydev" "$tmp/mydev.sock" >"$tmp/mydev.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	[ -S "$tmp/mydev.sock" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if ! [ -S "$tmp/mydev.sock" ]; then
	cat "$tmp/mydev.log"
	wait "$pid" || true
	echo "the README device did not start"
	exit 1
fi
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ $rc -eq 0 ] || { cat "$tmp/mydev.log"; echo "the README device exited $rc on SIGTERM"; exit 1; }
echo "install_consume: ok"
