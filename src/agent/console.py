"""Serial console logs for the controller's GetConsoleLog (ConsoleLogQuery on the stream).

QEMU domains log their serial port to <state-dir>/instances/<uid>/console.log (virtlogd
writes it, and rotates it at 2 MiB by default). A reply carries at most `max_bytes` of its
end: the last `tail_lines` lines when asked for, else as much of the end as fits, with
`truncated` set whenever the reply is not everything that was asked for.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path

from agent.hypervisor.base import Hypervisor, HypervisorError, PowerState
from agent.hypervisor.instance_files import InstanceFiles

DEFAULT_MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class ConsoleText:
    text: str = ""
    truncated: bool = False
    error: str = ""


def read_tail(path: Path, tail_lines: int, max_bytes: int) -> ConsoleText:
    """The end of a log file; blocks (run it in a thread)."""
    try:
        size = path.stat().st_size
        start = max(0, size - max_bytes)
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(max_bytes)
    except FileNotFoundError:
        return ConsoleText()  # defined but never started: nothing logged yet
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    cut = start > 0
    if cut:
        # The window starts mid-line: drop the fragment.
        text = text.split("\n", 1)[1] if "\n" in text else ""
    if tail_lines > 0:
        lines = text.splitlines(keepends=True)
        if len(lines) >= tail_lines:
            return ConsoleText(text="".join(lines[-tail_lines:]))
    return ConsoleText(text=text, truncated=cut)


class ConsoleLogs:
    def __init__(
        self, hypervisor: Hypervisor, files: InstanceFiles | None, *, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self._hypervisor = hypervisor
        self._files = files
        self._max_bytes = max_bytes

    async def read(self, instance_uid: str, tail_lines: int = 0) -> ConsoleText:
        """Never raises: problems come back as `error` for the controller to pass on."""
        try:
            uid = str(uuid.UUID(instance_uid))
        except ValueError:
            return ConsoleText(error=f"invalid instance uid {instance_uid!r}")
        if self._files is None:
            return ConsoleText(error=f"{self._hypervisor.uri} has no serial console logs (QEMU hosts do)")
        try:
            state = await self._hypervisor.power_state(uid)
        except HypervisorError as exc:
            return ConsoleText(error=str(exc))
        if state is PowerState.MISSING:
            return ConsoleText(error=f"no domain for instance {uid} on this host")
        try:
            return await asyncio.to_thread(
                read_tail, self._files.console_log(uid), max(0, tail_lines), self._max_bytes
            )
        except OSError as exc:
            return ConsoleText(error=f"cannot read the console log: {exc}")
