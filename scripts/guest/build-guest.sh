#!/usr/bin/env bash
# Build the libvqcore test guest: an unmodified Debian kernel (vmlinuz) and a
# small initramfs (busybox-static, the virtio modules, scripts/guest/init).
#
# Usage: scripts/guest/build-guest.sh
#   Prints the directory holding vmlinuz and initramfs.gz on stdout (last
#   line); progress goes to stderr.  Idempotent: the result is cached under
#   $VQCORE_GUEST_CACHE (default $HOME/.cache/vqcore-guest)/<kernel version>/
#   and rebuilt only when the kernel version, /init, busybox or this script
#   change.
# Environment:
#   VQCORE_GUEST_CACHE   cache directory
#   VQCORE_GUEST_KVER    kernel version to use (e.g. 6.1.0-56-amd64); default:
#                        the one linux-image-amd64 depends on in the apt lists.
# Nothing is installed into the host's /boot or /lib/modules: the kernel
# package is fetched with `apt-get download` and unpacked with dpkg-deb -x.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
cache=${VQCORE_GUEST_CACHE:-$HOME/.cache/vqcore-guest}

# Load order matters: insmod does not resolve dependencies.
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
	virtio_blk failover net_failover virtio_net virtio_balloon)
# virtio-rng (vqtest=rng); the hwrng core is built in (CONFIG_HW_RANDOM=y).
MODULES+=(virtio-rng)

say() { echo "build-guest: $*" >&2; }
die() { say "error: $*"; exit 1; }

"$top/scripts/install-deps" --qemu >&2 || die "scripts/install-deps --qemu failed"

mkdir -p "$cache"
# Serialise builders (the blk and net tests may run in parallel).
exec 9>"$cache/.lock"
flock 9

# Which kernel.
kver_from_apt() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -n 1
}
kver=${VQCORE_GUEST_KVER:-}
if [ -z "$kver" ]; then
	kver=$(kver_from_apt)
	if [ -z "$kver" ]; then
		say "apt lists know no linux-image-amd64; running apt-get update"
		sudo=""
		[ "$(id -u)" -ne 0 ] && sudo="sudo"
		$sudo apt-get update -qq >&2 || true
		kver=$(kver_from_apt)
	fi
	if [ -z "$kver" ]; then
		# Offline: fall back on the newest kernel already in the cache.
		kver=$(ls -1 "$cache" 2>/dev/null | grep -- '-amd64$' | sort -V | tail -n 1 || true)
		[ -n "$kver" ] || die "cannot find a Debian kernel version (apt-cache depends linux-image-amd64)"
		say "using cached kernel $kver"
	fi
fi
out=$cache/$kver
mkdir -p "$out"

# A module added to MODULES after the cache was made: fetch the package again.
for m in "${MODULES[@]}"; do
	[ -f "$out/modules/$m.ko" ] || rm -f "$out/modules.ok"
done
# 1. The kernel package: vmlinuz and the modules we need.
modules_missing() {
	local m
	for m in "${MODULES[@]}"; do
		[ -f "$out/modules/$m.ko" ] || return 0
	done
	return 1
}
if [ ! -f "$out/vmlinuz" ] || [ ! -f "$out/modules.ok" ] || modules_missing; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	say "downloading linux-image-$kver"
	# apt-get download works as root too (it warns it cannot drop to _apt).
	if ! (cd "$tmp" && apt-get download "linux-image-$kver" >"$tmp/dl.log" 2>&1) &&
	   [ -z "${VQCORE_GUEST_KVER:-}" ]; then
		# Stale apt lists name a kernel the mirror no longer has:
		# refresh them once and take the version they name now.
		say "download failed; running apt-get update and trying again"
		sudo=""
		[ "$(id -u)" -ne 0 ] && sudo="sudo"
		$sudo apt-get update -qq >&2 || true
		kver=$(kver_from_apt)
		[ -n "$kver" ] || die "cannot find a Debian kernel version after apt-get update"
		out=$cache/$kver
		mkdir -p "$out"
		(cd "$tmp" && apt-get download "linux-image-$kver" >"$tmp/dl.log" 2>&1) ||
			{ cat "$tmp/dl.log" >&2; die "apt-get download linux-image-$kver failed"; }
	fi
	ls "$tmp"/linux-image-*.deb >/dev/null 2>&1 ||
		{ cat "$tmp/dl.log" >&2; die "apt-get download linux-image-$kver failed"; }
	deb=$(ls "$tmp"/linux-image-*.deb)
	dpkg-deb -x "$deb" "$tmp/root"
	rm -rf "$out/modules"
	mkdir -p "$out/modules"
	for m in "${MODULES[@]}"; do
		f=$(find "$tmp/root/lib/modules/$kver" \( -name "$m.ko" -o -name "$m.ko.xz" \
			-o -name "$m.ko.zst" -o -name "$m.ko.gz" \) | head -n 1)
		[ -n "$f" ] || die "module $m not found in linux-image-$kver"
		case "$f" in
		*.xz) xz -dc "$f" >"$out/modules/$m.ko" ;;
		*.zst) zstd -dcq "$f" >"$out/modules/$m.ko" ;;
		*.gz) gzip -dc "$f" >"$out/modules/$m.ko" ;;
		*) cp "$f" "$out/modules/$m.ko" ;;
		esac
	done
	cp "$tmp/root/boot/vmlinuz-$kver" "$out/vmlinuz"
	basename "$deb" >"$out/package"
	touch "$out/modules.ok"
	rm -rf "$tmp"
	trap - EXIT
fi

# 2. The initramfs; its key covers everything that goes into it.
busybox=/bin/busybox
case "$(ldd "$busybox" 2>&1 || true)" in
*"not a dynamic"*) ;;
*) die "$busybox is not static (package busybox-static)" ;;
esac
key=$( (cat "$here/init" "$here/vqload.c" "${BASH_SOURCE[0]}"; gcc --version | head -n 1
	sha256sum "$busybox" "$out"/modules/*.ko) | sha256sum | cut -d' ' -f1)
if [ ! -f "$out/initramfs.gz" ] || [ "$(cat "$out/initramfs.key" 2>/dev/null)" != "$key" ]; then
	say "building initramfs for $kver"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	r=$tmp/root
	mkdir -p "$r"/{bin,sbin,dev,proc,sys,tmp,lib/modules}
	cp "$busybox" "$r/bin/busybox"
	for applet in $("$busybox" --list); do
		[ "$applet" = busybox ] || ln -s busybox "$r/bin/$applet"
	done
	cp "$out"/modules/*.ko "$r/lib/modules/"
	install -m 0755 "$here/init" "$r/init"
	# The load the migration and restart tests put on the devices.
	gcc -static -O2 -o "$r/bin/vqload" "$here/vqload.c" ||
		die "cannot build vqload (static glibc: libc6-dev)"
	# The kernel needs /dev/console before /init runs for the console to work.
	mknod -m 600 "$r/dev/console" c 5 1 2>/dev/null || true
	(cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -9 >"$tmp/initramfs.gz"
	mv "$tmp/initramfs.gz" "$out/initramfs.gz"
	echo "$key" >"$out/initramfs.key"
	rm -rf "$tmp"
	trap - EXIT
fi
say "guest ready: $out (kernel $kver)"
echo "$out"
