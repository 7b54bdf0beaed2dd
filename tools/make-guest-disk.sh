#!/usr/bin/env bash
# Builds a bootable hard-disk image of the default Linux guest for a full boot through the firmware:
# an MBR (SYSLINUX's mbr.bin) with one active FAT16 partition at 1 MiB holding SYSLINUX (ldlinux.sys, installed
# into the image file with Debian's syslinux/mtools, no mounting), the kernel, the initramfs and syslinux.cfg
# (serial console on COM1). Writes guest/disk.img (raw) and guest/disk.qcow2; re-running is a no-op.
# Needs tools/fetch-guest.sh's output; the Debian packages syslinux, syslinux-common, mtools, dosfstools and qemu-utils.
# Usage: tools/make-guest-disk.sh [GUESTDIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/guest}
if [ -s "$dir/disk.img" ] && [ -s "$dir/disk.qcow2" ]; then
  echo "make-guest-disk: cached in $dir (disk.img, disk.qcow2)"
  exit 0
fi
"$root/tools/fetch-guest.sh" "$dir"
for tool in syslinux mcopy mkfs.fat qemu-img; do
  command -v "$tool" >/dev/null || { echo "make-guest-disk: $tool is missing (tools/setup-deps.sh installs it)" >&2; exit 1; }
done
mbr=/usr/lib/syslinux/mbr/mbr.bin
[ -s "$mbr" ] || { echo "make-guest-disk: $mbr is missing (package syslinux-common)" >&2; exit 1; }

size_mb=32
part_start=2048                                   # sectors: 1 MiB
part_sectors=$(( size_mb * 2048 - part_start ))
tmp="$dir/disk.img.tmp"
fat="$dir/fat.tmp"
rm -f "$tmp" "$fat"
# The FAT16 file system, built in its own file and then placed at the partition's offset.
mkfs.fat -F 16 -n JITVM -h "$part_start" -C "$fat" $(( part_sectors / 2 )) >/dev/null
cat > "$dir/syslinux.cfg" <<'CFG'
SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 1
LABEL linux
  KERNEL vmlinuz
  INITRD initrd.gz
  APPEND console=tty0 console=ttyS0 panic=-1
CFG
syslinux --install "$fat"
mcopy -i "$fat" "$dir/vmlinuz" "$dir/initrd.gz" "$dir/syslinux.cfg" ::/
rm -f "$dir/syslinux.cfg"
# The disk: MBR boot code, one active partition of type 0x06 (FAT16), then the file system.
truncate -s "${size_mb}M" "$tmp"
dd if="$mbr" of="$tmp" bs=440 count=1 conv=notrunc status=none
# Partition entry 1 at 0x1BE: active, CHS of the first and last sector for a 16-head, 63-sector geometry, type 06h,
# then the LBA start and length; the boot signature 55AAh at 0x1FE.
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(( $1 & 255 )) $(( ($1 >> 8) & 255 )) $(( ($1 >> 16) & 255 )) $(( ($1 >> 24) & 255 )); }
chs() {
  local c=$(( $1 / (16 * 63) )) h=$(( ($1 / 63) % 16 )) s=$(( $1 % 63 + 1 ))
  printf '\\x%02x\\x%02x\\x%02x' "$h" $(( s | ((c >> 2) & 0xC0) )) $(( c & 255 ))
}
last=$(( part_start + part_sectors - 1 ))
printf "\\x80$(chs "$part_start")\\x06$(chs "$last")$(le32 "$part_start")$(le32 "$part_sectors")" |
  dd of="$tmp" bs=1 seek=446 conv=notrunc status=none
printf '\x55\xaa' | dd of="$tmp" bs=1 seek=510 conv=notrunc status=none
dd if="$fat" of="$tmp" bs=512 seek="$part_start" conv=notrunc status=none
rm -f "$fat"
qemu-img convert -f raw -O qcow2 "$tmp" "$dir/disk.qcow2.tmp"
mv "$tmp" "$dir/disk.img"
mv "$dir/disk.qcow2.tmp" "$dir/disk.qcow2"
echo "make-guest-disk: $dir/disk.img and $dir/disk.qcow2 (SYSLINUX, $(cat "$dir/VERSION"))"
