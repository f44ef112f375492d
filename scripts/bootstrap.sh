#!/usr/bin/env bash
# Sets up everything Overcast needs on a fresh Debian machine, idempotently:
#   - Debian packages to build libvirt-python and run the libvirt test driver, and for the API
#     contract's checks protoc (Java generation) and Node.js with npm (buf, the Node client)
#     (installed only when missing; needs root or sudo),
#   - a virtualenv in .venv with the project and its dev tools.
# Usage: scripts/bootstrap.sh [--qemu]   (--qemu also installs the QEMU/KVM packages)
set -euo pipefail
cd "$(dirname "$0")/.."

need=(libvirt-dev pkg-config libvirt-clients libvirt-daemon protobuf-compiler)
if [[ "${1:-}" == "--qemu" ]]; then
  need+=(libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils)
fi

missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# By command, not package: Node.js from elsewhere (NodeSource's nodejs bundles npm) is fine.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}" >&2
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

py=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating .venv" >&2
  "$py" -m venv .venv
fi
stamp=.venv/.installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp || requirements.lock -nt $stamp ]]; then
  echo "==> installing Python packages into .venv (libvirt-python builds from source)" >&2
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  # The versions this project is tested with (requirements.lock); pyproject.toml's ranges are
  # what users of the package get.
  .venv/bin/pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
  touch "$stamp"
fi
