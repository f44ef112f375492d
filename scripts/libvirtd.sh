#!/usr/bin/env bash
# Makes qemu:///system answer on a machine without systemd (CI, containers, these VMs),
# idempotently:
#   - installs the QEMU/libvirt Debian packages that are missing (apt-get update first),
#   - creates what libvirtd 9.0 insists on before it starts: /var/log/libvirt,
#     /var/lib/libvirt/images, /run/libvirt and the system user/group libvirt-qemu (in a
#     kvm group) that Debian's package normally creates through systemd-sysusers,
#   - starts `virtlogd -d` (serial console log files go through it) and `libvirtd -d`
#     unless `virsh -c qemu:///system version` already works, then waits until it answers.
# Usage: scripts/libvirtd.sh        (as root; exits non-zero with the reason otherwise)
set -euo pipefail

URI=qemu:///system
WAIT_S=${LIBVIRTD_WAIT_S:-30}

die() { echo "libvirtd.sh: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (libvirtd runs as root and manages /run/libvirt); try: sudo $0"

answers() { timeout 10 virsh -c "$URI" version >/dev/null 2>&1; }
pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
# Serial console logs go through virtlogd: a libvirtd without it cannot start our domains.
ensure_virtlogd() { pid_alive /run/virtlogd.pid || virtlogd -d || die "virtlogd -d failed"; }

if command -v virsh >/dev/null && answers; then
  ensure_virtlogd
  echo "libvirtd.sh: $URI already answers" >&2
  exit 0
fi

need=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "libvirtd.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi

mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/images /run/libvirt
getent group kvm >/dev/null || groupadd --system kvm
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
if ! getent passwd libvirt-qemu >/dev/null; then
  useradd --system --gid libvirt-qemu --groups kvm --home-dir /var/lib/libvirt \
    --no-create-home --shell /usr/sbin/nologin libvirt-qemu
else
  id -nG libvirt-qemu | tr ' ' '\n' | grep -qx kvm || usermod -a -G kvm libvirt-qemu
fi
# QEMU runs as libvirt-qemu and opens /dev/kvm when the agent proved KVM works.
[[ -c /dev/kvm ]] && { chgrp kvm /dev/kvm && chmod 0660 /dev/kvm; } 2>/dev/null || true

ensure_virtlogd
# A daemon left from an earlier run that does not answer yet (still probing QEMU's
# capabilities) keeps its pid file locked: wait for it rather than start a second one.
if pid_alive /run/libvirtd.pid; then
  echo "libvirtd.sh: libvirtd (pid $(cat /run/libvirtd.pid)) runs but does not answer yet; waiting" >&2
else
  libvirtd -d || die "libvirtd -d failed (see /var/log/libvirt/ and run 'libvirtd' in the foreground)"
fi

for _ in $(seq 1 $((WAIT_S * 5))); do
  if answers; then
    echo "libvirtd.sh: $URI answers ($(virsh -c "$URI" version 2>/dev/null | grep -i 'running hypervisor' || true))" >&2
    exit 0
  fi
  sleep 0.2
done
die "$URI does not answer after ${WAIT_S}s; last error: $(virsh -c "$URI" version 2>&1 | tail -1)"
