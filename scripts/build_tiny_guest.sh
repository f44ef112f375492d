#!/usr/bin/env bash
# Builds Overcast's tiny test guest from Debian packages only (apt-get download + dpkg-deb -x;
# nothing is installed into this system):
#   vmlinuz     the kernel of linux-image-cloud-amd64 (the versioned package it depends on)
#   initrd.img  a gzip'd cpio with busybox-static, guest/init as /init, guest/acpi-power and
#               the few kernel modules it loads (virtio disk, ACPI power button)
#   root.qcow2  a blank 16 MiB qcow2: the "root disk image" servers boot from with the two above
# Boot it with: console=ttyS0 overcast.name=NAME [overcast.burn=N] [overcast.poweroff=N]
# It prints "OVERCAST-BOOT name=NAME ..." on ttyS0 once user space runs (see guest/init).
#
# Idempotent and cached: skipped when OUTDIR holds a build of the same package versions and
# guest files. Prints each output's path and sha256 on stdout (progress on stderr).
# Usage: scripts/build_tiny_guest.sh [OUTDIR]   (default .cache/guest; apt-get needs root)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$REPO/.cache/guest}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
GUEST=$REPO/guest
ROOT_DISK_SIZE=16M
MODULES=(drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev
  drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci drivers/block/virtio_blk
  drivers/input/evdev drivers/acpi/button)

die() { echo "build_tiny_guest.sh: $*" >&2; exit 1; }
say() { echo "build_tiny_guest.sh: $*" >&2; }

# One builder at a time per OUTDIR (test sessions may start it concurrently).
exec 9>"$OUT/.lock"
flock 9

printf '*\n' >"$OUT/.gitignore"

candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}'; }
kernel_package() {
  apt-cache depends linux-image-cloud-amd64 2>/dev/null \
    | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}
resolve() {
  KPKG=$(kernel_package)
  KVER=${KPKG:+$(candidate "$KPKG")}
  BVER=$(candidate busybox-static)
  [[ -n $KPKG && -n $KVER && $KVER != "(none)" && -n $BVER && $BVER != "(none)" ]]
}
if ! resolve; then
  say "package lists lack linux-image-cloud-amd64 or busybox-static: apt-get update"
  [[ $(id -u) -eq 0 ]] || die "apt-get update needs root"
  apt-get update -qq || die "apt-get update failed"
  resolve || die "cannot resolve linux-image-cloud-amd64 / busybox-static from the Debian archive"
fi
GUEST_SUM=$(cat "$GUEST/init" "$GUEST/acpi-power" "$0" | sha256sum | cut -d' ' -f1)
KEY="kernel=$KPKG=$KVER busybox=$BVER guest=$GUEST_SUM"

report() {
  for f in vmlinuz initrd.img root.qcow2; do
    echo "$OUT/$f $(sha256sum "$OUT/$f" | cut -d' ' -f1)"
  done
}

if [[ -f $OUT/build.key && $(cat "$OUT/build.key") == "$KEY" ]] \
  && [[ -s $OUT/vmlinuz && -s $OUT/initrd.img && -s $OUT/root.qcow2 ]]; then
  say "up to date ($KPKG $KVER, busybox-static $BVER)"
  report
  exit 0
fi

command -v qemu-img >/dev/null || die "qemu-img is missing (Debian package qemu-utils; scripts/libvirtd.sh installs it)"

WORK=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
say "downloading $KPKG=$KVER and busybox-static=$BVER"
# apt-get download writes into the current directory; as root it warns that the _apt
# sandbox user cannot write there, which is harmless.
(cd "$WORK" && apt-get download -qq "$KPKG=$KVER" "busybox-static=$BVER" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
shopt -s nullglob
kdeb=("$WORK"/linux-image-*.deb)
bdeb=("$WORK"/busybox-static_*.deb)
((${#kdeb[@]} == 1 && ${#bdeb[@]} == 1)) || die "apt-get download of $KPKG and busybox-static failed"
mkdir "$WORK/kernel" "$WORK/busybox"
dpkg-deb -x "${kdeb[0]}" "$WORK/kernel"
dpkg-deb -x "${bdeb[0]}" "$WORK/busybox"
vmlinuz=("$WORK"/kernel/boot/vmlinuz-*)
((${#vmlinuz[@]} == 1)) || die "no /boot/vmlinuz-* in $KPKG"
BUSYBOX=$WORK/busybox/bin/busybox
[[ -x $BUSYBOX ]] || die "no /bin/busybox in busybox-static"

say "assembling the initramfs"
ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS"/{bin,dev,proc,sys,tmp,lib/modules,etc/acpi/PWRF}
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
install -m 0755 "$GUEST/init" "$ROOTFS/init"
# busybox acpid runs /etc/acpi/PWRF/00000080 for the power button (its default action map).
install -m 0755 "$GUEST/acpi-power" "$ROOTFS/etc/acpi/PWRF/00000080"
moddir=("$WORK"/kernel/lib/modules/*/kernel)
for m in "${MODULES[@]}"; do
  src=${moddir[0]}/$m.ko
  [[ -f $src ]] || src=$src.xz
  [[ -f $src ]] || die "module $m is not in $KPKG"
  case $src in
    *.xz) xz -dc "$src" >"$ROOTFS/lib/modules/$(basename "$m").ko" ;;
    *) cp "$src" "$ROOTFS/lib/modules/" ;;
  esac
done
(cd "$ROOTFS" && find . -mindepth 1 | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc 2>/dev/null) >"$WORK/rootfs.cpio"
gzip -n -9 <"$WORK/rootfs.cpio" >"$WORK/initrd.img"

qemu-img create -q -f qcow2 "$WORK/root.qcow2" "$ROOT_DISK_SIZE"
cp "${vmlinuz[0]}" "$WORK/vmlinuz"
chmod 0644 "$WORK/vmlinuz" "$WORK/initrd.img" "$WORK/root.qcow2"
for f in vmlinuz initrd.img root.qcow2; do mv -f "$WORK/$f" "$OUT/$f"; done
echo "$KEY" >"$OUT/build.key"
say "built ($KPKG $KVER, busybox-static $BVER) in $OUT"
report
