"""Host metrics from /proc: CPU utilisation from /proc/stat deltas, memory from /proc/meminfo,
load averages from /proc/loadavg. Parsing is pure; `ProcSampler` keeps the previous CPU
counters between samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_KIB_PER_MIB = 1024


class ProcError(Exception):
    """A /proc file is missing or not in the expected format."""


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """Aggregate CPU time in clock ticks since boot."""

    busy: int
    total: int


@dataclass(frozen=True, slots=True)
class Memory:
    total_kib: int
    available_kib: int

    @property
    def used_mib(self) -> int:
        return max(0, self.total_kib - self.available_kib) // _KIB_PER_MIB

    @property
    def free_mib(self) -> int:
        return self.available_kib // _KIB_PER_MIB


@dataclass(frozen=True, slots=True)
class ProcSample:
    cpu_util: float
    memory_used_mib: int
    memory_free_mib: int
    load1: float
    load5: float
    load15: float


def parse_stat(text: str) -> CpuTimes:
    """The aggregate "cpu" line: user nice system idle iowait irq softirq steal [guest …].

    guest and guest_nice are already counted in user and nice, so they are left out; idle and
    iowait are the time the CPUs did no work.
    """
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            try:
                ticks = [int(v) for v in fields[1:9]]
            except ValueError:
                raise ProcError(f"/proc/stat: unreadable cpu line {line!r}") from None
            if len(ticks) < 4:
                raise ProcError(f"/proc/stat: short cpu line {line!r}")
            total = sum(ticks)
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
            return CpuTimes(busy=total - idle, total=total)
    raise ProcError("/proc/stat has no aggregate cpu line")


def cpu_util(before: CpuTimes | None, after: CpuTimes) -> float:
    """Share of CPU time spent working between two readings (0..1); without an earlier
    reading, the average since boot."""
    busy, total = after.busy, after.total
    if before is not None:
        busy, total = busy - before.busy, total - before.total
    if total <= 0:
        return 0.0
    return min(1.0, max(0.0, busy / total))


def parse_meminfo(text: str) -> Memory:
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key.strip()] = int(parts[0])  # kB
    if "MemTotal" not in values:
        raise ProcError("/proc/meminfo has no MemTotal")
    available = values.get("MemAvailable")
    if available is None:  # kernels before 3.14
        available = sum(values.get(k, 0) for k in ("MemFree", "Buffers", "Cached"))
    return Memory(total_kib=values["MemTotal"], available_kib=min(available, values["MemTotal"]))


def parse_loadavg(text: str) -> tuple[float, float, float]:
    parts = text.split()
    try:
        return float(parts[0]), float(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        raise ProcError(f"/proc/loadavg: unreadable {text.strip()!r}") from None


class ProcSampler:
    """Reads the host's /proc (or another root, for tests). Each read is a few small files:
    cheap enough for the event loop."""

    def __init__(self, root: Path = Path("/proc")) -> None:
        self._root = root
        self._last_cpu: CpuTimes | None = None

    def _read(self, name: str) -> str:
        try:
            return (self._root / name).read_text()
        except OSError as exc:
            raise ProcError(f"cannot read {self._root / name}: {exc.strerror or exc}") from None

    def sample(self) -> ProcSample:
        cpu = parse_stat(self._read("stat"))
        memory = parse_meminfo(self._read("meminfo"))
        load1, load5, load15 = parse_loadavg(self._read("loadavg"))
        util = cpu_util(self._last_cpu, cpu)
        self._last_cpu = cpu
        return ProcSample(
            cpu_util=util,
            memory_used_mib=memory.used_mib,
            memory_free_mib=memory.free_mib,
            load1=load1,
            load5=load5,
            load15=load15,
        )
