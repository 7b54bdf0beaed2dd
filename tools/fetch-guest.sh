#!/usr/bin/env bash
# Fetches the default Linux guest: Debian 12's i386 kernel (the version linux-image-686 depends on today, read from
# the package index) and busybox-static, with apt-get download into a private APT state directory
# (-oAPT::Architecture=i386, so the host's APT configuration and packages are not changed), and builds an
# initramfs (cpio newc, gzip) whose /init mounts /proc, /sys and /dev, prints a banner and runs a busybox shell on
# the console. Output: guest/vmlinuz, guest/initrd.gz, guest/VERSION (git-ignored). Re-running is a no-op.
# Usage: tools/fetch-guest.sh [OUTDIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/guest}
if [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.gz" ] && [ -s "$out/VERSION" ]; then
  echo "fetch-guest: cached in $out ($(cat "$out/VERSION"))"
  exit 0
fi
for tool in cpio dpkg-deb gzip; do
  if ! command -v "$tool" >/dev/null; then
    echo "fetch-guest: installing $tool"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get install -y -qq --no-install-recommends "$tool" >/dev/null
  fi
done
work="$out/.work"
rm -rf "$work"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
apt=(-o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "Dir::State::status=/dev/null"
     -o APT::Architecture=i386 -o APT::Architectures=i386 -o APT::Sandbox::User=root)
# An index that fails to download (a mirror in sync, say) is reported; what matters is that the packages resolve.
apt-get "${apt[@]}" -qq update || echo "fetch-guest: apt-get update reported errors; trying with what it fetched"
kernel=$(apt-cache "${apt[@]}" depends linux-image-686 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$kernel" ]; then
  echo "fetch-guest: cannot resolve linux-image-686 for i386 from the package index" >&2
  exit 1
fi
(cd "$work/debs" && apt-get "${apt[@]}" -qq download "$kernel" busybox-static)
dpkg-deb -x "$work"/debs/linux-image-*.deb "$work/kernel"
dpkg-deb -x "$work"/debs/busybox-static_*.deb "$work/busybox"
mkdir -p "$out"
cp "$work"/kernel/boot/vmlinuz-* "$out/vmlinuz.tmp"

# The initramfs: busybox and an /init script; the kernel's own built-in initramfs supplies /dev/console.
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,root,etc}
cp "$work/busybox/bin/busybox" "$rootfs/bin/busybox"
cat > "$rootfs/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo
echo "JitVm guest: Debian $(uname -r) with busybox; 'poweroff -f' ends the run"
export HOME=/root PS1='~ # '
cd /root
exec setsid cttyhack sh
INIT
chmod 755 "$rootfs/init"
(cd "$rootfs" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -9 > "$out/initrd.gz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/initrd.gz.tmp" "$out/initrd.gz"
echo "$kernel" > "$out/VERSION"
rm -rf "$work"
echo "fetch-guest: $kernel and busybox in $out (vmlinuz, initrd.gz)"
