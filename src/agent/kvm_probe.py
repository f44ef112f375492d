"""Does KVM really work on this host? Decides the libvirt domain type: "kvm" or "qemu" (TCG).

/dev/kvm can be present, answer KVM_GET_API_VERSION, create VMs and run real-mode code, and
still hang the first time a guest enters protected mode (measured on the nested machines
this project runs on: a Linux kernel stops right after "Probing EDD"). So the probe boots a
64 KiB firmware image of our own under `qemu-system-x86_64 -accel kvm`: it goes from real
mode to protected mode to 64-bit long mode with paging (what every kernel does first) and
then writes to QEMU's isa-debug-exit port, which makes QEMU exit with status 3. Anything
else (another status, no QEMU, a timeout: the hang) means TCG. The probe runs in a child
process with a timeout, so a hanging /dev/kvm costs the agent a few seconds at start, never
a stuck thread.

The firmware is these instructions (GNU as, linked at 0xF0000, reset vector at 0xFFFF0):
    .code16: cli; lgdtl %cs:gdt_desc; cr0 |= PE; ljmpl $0x08, $pm32
    .code32: ds=es=ss=0x10; zero 0x1000..0x4000; PML4[0]=0x2003; PDPT[0]=0x3003;
             PD[0]=0x83 (2 MiB identity page); cr4 |= PAE; cr3=0x1000; EFER |= LME;
             cr0 |= PG; ljmpl $0x18, $lm64
    .code64: movb $1, %al; outb %al, $0xf4; 1: hlt; jmp 1b
    gdt: null, code32, data, code64 (L=1)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import structlog

log = structlog.get_logger("agent.kvm_probe")

_CODE = bytes.fromhex(
    "fa2e660f0116a8000f20c06683c8010f22c066ea1a000f00080066b810008ed88ec08ed0bf0010000031c0"
    "b9000c0000f3abc7050010000003200000c7050020000003300000c70500300000830000000f20e083c820"
    "0f22e0b8001000000f22d8b9800000c00f320d000100000f300f20c00d000000800f22c0ea81000f001800"
    "b001e6f4f4ebfd0000000000000000ffff0000009acf00ffff00000092cf00ffff0000009aaf001f008800"
    "0f00"
)
_RESET_VECTOR = bytes.fromhex("ea000000f0")  # ljmpw $0xF000, $0x0000 at 0xFFFF0
_ROM_SIZE = 0x10000
_EXIT_PORT = 0xF4
_PROVED = 3  # isa-debug-exit: status = (value << 1) | 1, and the firmware writes 1

DEFAULT_QEMU = "qemu-system-x86_64"


def probe_firmware() -> bytes:
    rom = bytearray(_ROM_SIZE)
    rom[: len(_CODE)] = _CODE
    rom[0xFFF0 : 0xFFF0 + len(_RESET_VECTOR)] = _RESET_VECTOR
    return bytes(rom)


@dataclass(frozen=True)
class ProbeResult:
    accel: str  # "kvm" or "tcg": what the probe ran under
    ok: bool
    reason: str
    seconds: float


def _write_firmware(directory: str) -> str:
    rom = os.path.join(directory, "probe.bin")
    with open(rom, "wb") as f:
        f.write(probe_firmware())
    return rom


async def run_probe(accel: str = "kvm", *, qemu: str = DEFAULT_QEMU, within: float = 5.0) -> ProbeResult:
    """Boot the probe firmware under `accel` (kvm, or tcg to check the probe itself)."""
    started = time.monotonic()

    def result(ok: bool, reason: str) -> ProbeResult:
        return ProbeResult(accel=accel, ok=ok, reason=reason, seconds=round(time.monotonic() - started, 3))

    if accel == "kvm" and not await asyncio.to_thread(os.path.exists, "/dev/kvm"):
        return result(False, "/dev/kvm does not exist")
    binary = shutil.which(qemu)
    if binary is None:
        return result(False, f"{qemu} is not installed")
    with tempfile.TemporaryDirectory(prefix="overcast-kvm-probe-") as tmp:
        rom = await asyncio.to_thread(_write_firmware, tmp)
        try:
            proc = await asyncio.create_subprocess_exec(
                binary,
                "-accel", accel,
                "-machine", "pc",
                "-m", "16",
                "-nodefaults",
                "-no-user-config",
                "-display", "none",
                "-bios", rom,
                "-device", f"isa-debug-exit,iobase={_EXIT_PORT:#x},iosize=0x04",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        except OSError as exc:
            return result(False, f"cannot run {binary}: {exc}")
        try:
            _, stderr = await asyncio.wait_for(proc.communicate(), within)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            # A QEMU stuck in the kernel may not die at once: give it a moment, not forever.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 2.0)
            return result(False, f"the guest did not reach 64-bit mode within {within:g}s (hangs)")
    if proc.returncode == _PROVED:
        return result(True, "a guest reached 64-bit long mode")
    detail = stderr.decode(errors="replace").strip().splitlines()
    return result(False, f"qemu exited {proc.returncode}: {detail[-1] if detail else 'no output'}")


def _host_identity(qemu: str) -> str:
    """What a probe's verdict depends on: this boot of the kernel and the QEMU binary."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot_id = f.read().strip()
    except OSError:
        boot_id = "unknown-boot"
    binary = shutil.which(qemu) or qemu
    try:
        stamp = os.stat(binary).st_mtime_ns
    except OSError:
        stamp = 0
    return f"{boot_id} {binary} {stamp}"


def _read_cached(cache: str, identity: str) -> str | None:
    try:
        with open(cache) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("host") != identity:
        return None
    verdict = saved.get("domain_type")
    return str(verdict) if verdict in ("kvm", "qemu") else None


def _write_cached(cache: str, identity: str, domain_type: str, reason: str) -> None:
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(cache) or ".", exist_ok=True)
        tmp = f"{cache}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({"host": identity, "domain_type": domain_type, "reason": reason}, f)
        os.replace(tmp, cache)


async def choose_domain_type(
    setting: str, *, qemu: str = DEFAULT_QEMU, within: float = 5.0, cache: str | None = None
) -> str:
    """The libvirt domain type for this host: `setting` kvm/qemu is taken as is (an operator's
    decision); auto runs the probe, or reuses the verdict `cache` (a file) holds for this
    boot of the host and this QEMU binary: a hanging /dev/kvm costs one timeout per boot,
    not one per agent start."""
    if setting in ("kvm", "qemu"):
        log.info("kvm_probe.skipped", domain_type=setting, reason="set by --domain-type")
        return setting
    identity = await asyncio.to_thread(_host_identity, qemu)
    if cache is not None:
        cached = await asyncio.to_thread(_read_cached, cache, identity)
        if cached is not None:
            log.info("kvm_probe.cached", domain_type=cached, cache=cache)
            return cached
    probe = await run_probe("kvm", qemu=qemu, within=within)
    domain_type = "kvm" if probe.ok else "qemu"
    if cache is not None:
        await asyncio.to_thread(_write_cached, cache, identity, domain_type, probe.reason)
    log.info(
        "kvm_probe.done",
        domain_type=domain_type,
        kvm_works=probe.ok,
        reason=probe.reason,
        seconds=probe.seconds,
    )
    return domain_type
