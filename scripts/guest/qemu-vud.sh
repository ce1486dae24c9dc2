#!/usr/bin/env bash
# Make a test-time copy of qemu-system-x86_64 in which the generic vhost-user
# frontend, -device vhost-user-device-pci, is user-creatable.
#
# QEMU 10.0 builds that device but marks it not user-creatable: the class
# init of its PCI type, vhost_user_device_pci_class_init() in
# hw/virtio/vhost-user-device-pci.c, stores `dc->user_creatable = false`,
# and -device refuses it.  This script changes that one store to `true` in a
# copy of the binary: exactly one byte, the immediate of a
# `movb $0x0,OFF(%reg)` instruction.  Nothing else differs; the installed
# binary is not touched.  It locates the byte from the binary's own data and
# refuses (exit 1) unless every check below holds:
#   1. the string "vhost-user-device-pci-base" (the PCI base type name)
#      occurs once in the file;
#   2. one pointer in the relocated data points at it: the base_name field
#      of the VirtioPCIDeviceTypeInfo; 0x18 bytes further its
#      non_transitional_name points at "vhost-user-device-pci", and 0x48
#      bytes further its class_init points at a function in .text;
#   3. that function (up to its first ret) sets DEVICE_CATEGORY_INPUT with
#      `orq $0x10,C(%reg)` (set_bit() on dc->categories) and stores a zero
#      byte exactly once at C+0x22 through the same register: the bool
#      user_creatable after categories, fw_name, desc, props and the 16-bit
#      props_count_ in QEMU 10.0's DeviceClass;
#   4. that instruction is the 7 bytes c6 ModRM disp32 00 at the computed
#      file offset, and after patching the two files differ in that byte
#      only (cmp -l);
#   5. the copy lists vhost-user-device-pci under `-device help` and the
#      original does not.
#
# Usage: scripts/guest/qemu-vud.sh [QEMU_BINARY]
#   Prints the path of the copy on stdout (last line).  The copy is cached
#   in $VQCORE_GUEST_CACHE (default $HOME/.cache/vqcore-guest)/qemu-vud/
#   under the original's sha256 and made again when the original changes.
set -euo pipefail

say() { echo "qemu-vud: $*" >&2; }
die() { say "refusing: $*"; exit 1; }

orig=${1:-$(command -v qemu-system-x86_64 || true)}
[ -n "$orig" ] && [ -f "$orig" ] || die "no qemu-system-x86_64"
orig=$(readlink -f "$orig")
for t in readelf objdump cmp od grep; do
	command -v $t >/dev/null || die "$t is needed (binutils, diffutils)"
done
cache=${VQCORE_GUEST_CACHE:-$HOME/.cache/vqcore-guest}/qemu-vud
mkdir -p "$cache"
sum=$(sha256sum "$orig" | cut -c1-16)
out=$cache/qemu-system-x86_64-vud-$sum
if [ -x "$out" ] && [ -f "$out.ok" ]; then
	echo "$out"
	exit 0
fi

# Sections with file contents: "vaddr offset size" in decimal.
sections=$(readelf -SW "$orig" | sed 's/^ *\[ *[0-9]*\]//' |
	awk '$2 == "PROGBITS" { print $3, $4, $5 }' |
	while read -r a o s; do echo $((16#$a)) $((16#$o)) $((16#$s)); done)
[ -n "$sections" ] || die "readelf finds no sections (stripped of section headers?)"
# Virtual address (hex) -> file offset (decimal).
vaddr_to_off() {
	local va=$((16#$1)) a o s
	while read -r a o s; do
		if [ $va -ge $a ] && [ $va -lt $((a + s)) ]; then
			echo $((o + va - a))
			return 0
		fi
	done <<<"$sections"
}
# File offset (decimal) -> virtual address (hex).
off_to_vaddr() {
	local off=$1 a o s
	while read -r a o s; do
		if [ $off -ge $o ] && [ $off -lt $((o + s)) ]; then
			printf '%x\n' $((a + off - o))
			return 0
		fi
	done <<<"$sections"
}
# The NUL-terminated string at virtual address $1.
string_at() {
	local off
	off=$(vaddr_to_off "$1")
	[ -n "$off" ] || return 0
	dd if="$orig" bs=1 skip="$off" count=64 status=none | tr '\0' '\n' | sed -n 1p
}

# 1. The type name.
offs=$(LC_ALL=C grep -a -o -b -P 'vhost-user-device-pci-base\x00' "$orig" | cut -d: -f1 || true)
[ "$(echo "$offs" | grep -c .)" = 1 ] ||
	die "\"vhost-user-device-pci-base\" does not occur exactly once: not the QEMU 10.0 this script knows"
name_va=$(off_to_vaddr "$offs")
[ -n "$name_va" ] || die "the type name is in no section"
say "type name \"vhost-user-device-pci-base\" at $name_va"

# 2. The type info: relative relocations (PIE) give the pointers.
rel=$(readelf -rW "$orig" | awk '$3 == "R_X86_64_RELATIVE" { print $1, $4 }' |
	sed 's/^0*//; s/ 0*/ /')
ptr_at() { # VA (hex): the pointer stored there
	echo "$rel" | awk -v a="$1" '$1 == a { print $2 }'
}
info=$(echo "$rel" | awk -v t="$name_va" '$2 == t { print $1 }')
[ "$(echo "$info" | grep -c .)" = 1 ] || die "not one pointer to the type name (found: $info)"
info_d=$((16#$info))
nt=$(ptr_at "$(printf '%x' $((info_d + 0x18)))")
[ -n "$nt" ] && [ "$(string_at "$nt")" = vhost-user-device-pci ] ||
	die "the type info at $info has no non_transitional_name \"vhost-user-device-pci\""
ci=$(ptr_at "$(printf '%x' $((info_d + 0x48)))")
[ -n "$ci" ] || die "the type info at $info has no class_init"
text=$(readelf -SW "$orig" | sed 's/^ *\[ *[0-9]*\]//' | awk '$1 == ".text" { print $3, $5 }')
[ -n "$text" ] || die "no .text section"
read -r ta ts <<<"$text"
ci_d=$((16#$ci))
[ $ci_d -ge $((16#$ta)) ] && [ $ci_d -lt $((16#$ta + 16#$ts)) ] || die "class_init $ci is not in .text"
say "type info at $info, class_init at $ci"

# 3. The class init, up to its first ret.
dis=$(objdump -d --no-show-raw-insn --start-address=0x$ci --stop-address=$((ci_d + 0x200)) "$orig")
# (no early exits in pipelines: with pipefail a writer's SIGPIPE fails them)
dis=$(echo "$dis" | sed -n '/^ *[0-9a-f]*:/p' | awk 'done { next } { print } /\tret/ { done = 1 }')
grep -qE '\sret\b' <<<"$dis" || die "no ret within 0x200 bytes of class_init"
cat_line=$(echo "$dis" | grep -E 'orq +\$0x10,0x[0-9a-f]+\(%r[a-z0-9]+\)' || true)
[ "$(echo "$cat_line" | grep -c .)" = 1 ] || die "class_init does not set DEVICE_CATEGORY_INPUT once"
cat_off=$(echo "$cat_line" | sed -E 's/.*,0x([0-9a-f]+)\((%r[a-z0-9]+)\).*/\1/')
reg=$(echo "$cat_line" | sed -E 's/.*,0x([0-9a-f]+)\((%r[a-z0-9]+)\).*/\2/')
uc_off=$(printf '0x%x' $((16#$cat_off + 0x22)))
st=$(echo "$dis" | grep -E "movb +\\\$0x0,$uc_off\\($reg\\)" || true)
[ "$(echo "$st" | grep -c .)" = 1 ] ||
	die "class_init does not store false once at $uc_off($reg) (dc->user_creatable)"
# no other store to that field in the function
[ "$(echo "$dis" | grep -cE ",$uc_off\\($reg\\)")" = 1 ] || die "more than one access to $uc_off($reg)"
insn_va=$(echo "$st" | sed -E 's/^ *([0-9a-f]+):.*/\1/')
say "dc->user_creatable = false: movb \$0x0,$uc_off($reg) at $insn_va"

# 4. The bytes: c6 /0 with a disp32 (ModRM mod=10, reg=000), then imm8 0.
insn_off=$(vaddr_to_off "$insn_va")
bytes=$(od -A n -t x1 -j "$insn_off" -N 7 "$orig" | tr -d ' \n')
case $reg in
%rax) rm=0 ;; %rcx) rm=1 ;; %rdx) rm=2 ;; %rbx) rm=3 ;; %rbp) rm=5 ;; %rsi) rm=6 ;; %rdi) rm=7 ;;
*) die "register $reg needs a prefix this script does not handle" ;;
esac
d=$((16#${uc_off#0x}))
want=$(printf 'c6%02x%02x%02x%02x%02x00' $((0x80 | rm)) $((d & 255)) $(((d >> 8) & 255)) \
	$(((d >> 16) & 255)) $(((d >> 24) & 255)))
[ "$bytes" = "$want" ] || die "bytes at file offset $insn_off are $bytes, expected $want"
tmp=$(mktemp "$cache/.tmp-XXXXXX")
trap 'rm -f "$tmp"' EXIT
cp "$orig" "$tmp"
printf '\001' | dd of="$tmp" bs=1 seek=$((insn_off + 6)) conv=notrunc status=none
diff=$(cmp -l "$orig" "$tmp" | awk '{ print $1, $2, $3 }' || true)
[ "$diff" = "$((insn_off + 7)) 0 1" ] || die "the copy differs in more than the one byte: $diff"
chmod 0755 "$tmp"

# 5. The effect.
help_orig=$("$orig" -device help 2>&1 || true)
help_copy=$("$tmp" -device help 2>&1 || true)
grep -q '"vhost-user-device-pci"' <<<"$help_orig" &&
	die "the original already lists vhost-user-device-pci: no patch needed"
grep -q '"vhost-user-device-pci"' <<<"$help_copy" ||
	die "the patched copy does not list vhost-user-device-pci"
mv "$tmp" "$out"
trap - EXIT
{
	echo "original: $orig"
	echo "sha256: $(sha256sum "$orig" | cut -d' ' -f1)"
	echo "changed: file offset $((insn_off + 6)) (movb \$0x0 -> \$0x1 at $insn_va, $uc_off($reg))"
} >"$out.ok"
say "made $out (one byte at file offset $((insn_off + 6)): 00 -> 01)"
echo "$out"
