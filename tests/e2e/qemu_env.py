"""The real-VM test environment: qemu:///system running and the tiny guest built.

Both scripts are idempotent and cached, so this costs seconds after the first run. Tests
that need QEMU call `qemu_env()` (once per session) and are skipped, with the script's own
explanation, where libvirtd cannot run (not root, no packages reachable).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GUEST_DIR = REPO / ".cache" / "guest"
QEMU_URI = "qemu:///system"


@dataclass(frozen=True)
class GuestFile:
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class QemuEnv:
    kernel: GuestFile
    initrd: GuestFile
    root: GuestFile


def _file(path: Path) -> GuestFile:
    data = path.read_bytes()
    return GuestFile(path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


@functools.cache
def _prepare() -> QemuEnv | str:
    """The environment, or why there is none (a string: the skip reason)."""
    if os.geteuid() != 0:
        return "QEMU tests need root (scripts/libvirtd.sh starts libvirtd)"
    for script, args in (("libvirtd.sh", []), ("build_tiny_guest.sh", [str(GUEST_DIR)])):
        try:
            done = subprocess.run(
                [str(REPO / "scripts" / script), *args], capture_output=True, text=True, timeout=600
            )
        except subprocess.TimeoutExpired:
            return f"scripts/{script} did not finish in 600 s"
        if done.returncode != 0:
            return f"scripts/{script} failed: {done.stderr.strip()[-500:]}"
    return QemuEnv(
        kernel=_file(GUEST_DIR / "vmlinuz"),
        initrd=_file(GUEST_DIR / "initrd.img"),
        root=_file(GUEST_DIR / "root.qcow2"),
    )


def qemu_env() -> QemuEnv:
    env = _prepare()
    if isinstance(env, str):
        if os.environ.get("OVERCAST_REQUIRE_QEMU"):
            pytest.fail(env)
        pytest.skip(env)
    return env


def traversable_tmpdir(prefix: str) -> Path:
    """A fresh directory QEMU (running as libvirt-qemu) can reach: pytest's own tmp dirs
    live under a 0700 directory."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    path.chmod(0o711)
    return path


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


class LocalImageSource:
    """An agent.images source serving files from disk in chunks (the controller's
    DownloadImageData, without a controller); `fail_after` cuts a stream after that many
    bytes once, to exercise resuming."""

    def __init__(
        self, files: dict[str, Path], *, chunk: int = 256 * 1024, fail_after: int | None = None
    ) -> None:
        self._files = files
        self._chunk = chunk
        self._fail_after = fail_after
        self.requests: list[tuple[str, int]] = []

    async def download(self, name: str, offset: int):  # type: ignore[no-untyped-def]
        from agent.images import Chunk

        self.requests.append((name, offset))
        data = self._files[name].read_bytes()
        sent = 0
        while offset < len(data):
            if self._fail_after is not None and sent >= self._fail_after:
                self._fail_after = None
                raise ConnectionError("stream cut (test)")
            piece = data[offset : offset + self._chunk]
            yield Chunk(data=piece, offset=offset, size_bytes=len(data))
            offset += len(piece)
            sent += len(piece)

    async def close(self) -> None:
        return None
