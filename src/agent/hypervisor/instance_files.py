"""Per-instance files of QEMU domains under the agent's state directory.

    <state-dir>/instances/<uid>/disk.qcow2    copy-on-write overlay of the cached root image
    <state-dir>/instances/<uid>/console.log   the serial console (written by virtlogd)
    <state-dir>/instances/<uid>/images        checksums of the cached images it uses

The `images` file is what keeps the image cache from removing an image an instance still
needs (an overlay is useless without its backing file); it goes with the instance directory
when the instance is deleted. Everything here blocks: call it from the libvirt executor.

QEMU runs as the libvirt-qemu user, so directories on the way to these files must be
traversable by others (mode 0711: they cannot list them, only open what libvirt labels).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from agent.hypervisor.base import BootFiles, HypervisorError, ImageFile

DIR_MODE = 0o711
_QEMU_IMG_TIMEOUT_S = 60.0
_GIB = 1024**3
_QCOW2_MAGIC = b"QFI\xfb"


@dataclass(frozen=True)
class DomainFiles:
    """Local paths a domain's XML refers to."""

    console_log: Path
    disk: Path | None = None
    disk_format: str = "qcow2"
    kernel: Path | None = None
    initrd: Path | None = None


def make_dirs(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)


def virtual_size(image: ImageFile) -> int:
    """The disk size a guest sees: from the qcow2 header, or the file size (raw)."""
    with open(image.path, "rb") as f:
        header = f.read(32)
    if header[:4] == _QCOW2_MAGIC and len(header) >= 32:
        return int(struct.unpack(">Q", header[24:32])[0])
    return image.path.stat().st_size


class InstanceFiles:
    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "instances"

    def dir(self, instance_uid: str) -> Path:
        return self.root / instance_uid

    def console_log(self, instance_uid: str) -> Path:
        return self.dir(instance_uid) / "console.log"

    def prepare(self, instance_uid: str, boot: BootFiles, disk_gib: int) -> DomainFiles:
        """Create the instance directory and a fresh root disk overlay (a spawn that died
        before defining its domain leaves one behind: nothing in it is worth keeping)."""
        if boot.root_image is None and boot.kernel is None:
            raise HypervisorError("nothing to boot: the command names neither a root image nor a kernel")
        if boot.ramdisk is not None and boot.kernel is None:
            raise HypervisorError("a ramdisk needs a kernel")
        make_dirs(self.root)
        target = self.dir(instance_uid)
        make_dirs(target)
        (target / "images").write_text("".join(f"{i.checksum_sha256}\n" for i in boot.images()))
        disk = None
        if boot.root_image is not None:
            disk = target / "disk.qcow2"
            self._create_overlay(boot.root_image, disk, disk_gib)
        return DomainFiles(
            console_log=self.console_log(instance_uid),
            disk=disk,
            kernel=boot.kernel.path if boot.kernel else None,
            initrd=boot.ramdisk.path if boot.ramdisk else None,
        )

    def _create_overlay(self, base: ImageFile, overlay: Path, disk_gib: int) -> None:
        size = disk_gib * _GIB
        base_size = virtual_size(base)
        if size and size < base_size:
            raise HypervisorError(
                f"the flavor's disk ({disk_gib} GiB) is smaller than the image ({base_size} bytes)"
            )
        tmp = overlay.with_name(overlay.name + ".tmp")
        argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base.path), "-F", base.disk_format]
        argv += [str(tmp)] + ([str(size)] if size else [])
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=_QEMU_IMG_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HypervisorError(f"qemu-img create failed: {exc}") from None
        if done.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise HypervisorError(f"qemu-img create failed: {done.stderr.strip() or done.returncode}")
        os.replace(tmp, overlay)

    def remove(self, instance_uid: str) -> None:
        shutil.rmtree(self.dir(instance_uid), ignore_errors=True)

    def referenced_checksums(self) -> set[str]:
        """Checksums of the images every instance directory on disk still uses."""
        used: set[str] = set()
        try:
            entries = list(self.root.iterdir())
        except FileNotFoundError:
            return used
        for entry in entries:
            try:
                lines = (entry / "images").read_text().splitlines()
                used.update(line.strip() for line in lines if line.strip())
            except (FileNotFoundError, NotADirectoryError):
                continue
        return used
