"""Progress of an image transfer on stderr: a rich progress bar on a terminal, plain lines
(every 10 % and at the end of each phase) anywhere else, so logs and CI stay readable."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ..transfer import OnProgress

PHASES = {"checksum": "sha256", "upload": "upload", "download": "download"}
MIB = 1024 * 1024


def _mib(n: int) -> str:
    return f"{n / MIB:.1f} MiB"


class ProgressLines:
    """One line per phase start, every 10 % step and phase end."""

    def __init__(self, label: str, out: TextIO) -> None:
        self._label = label
        self._out = out
        self._steps: dict[str, int] = {}
        self._lock = threading.Lock()  # the sync client reports from gRPC's thread

    def __call__(self, phase: str, done: int, total: int) -> None:
        step = 10 * done // total if total else 10
        with self._lock:
            if self._steps.get(phase, -1) >= step:
                return
            self._steps[phase] = step
            name = PHASES.get(phase, phase)
            print(
                f"{name} {self._label}: {step * 10}% ({_mib(done)} of {_mib(total)})",
                file=self._out,
                flush=True,
            )


class ProgressBars:
    """A rich progress bar per phase."""

    def __init__(self, label: str, progress: Progress) -> None:
        self._label = label
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def __call__(self, phase: str, done: int, total: int) -> None:
        with self._lock:
            task = self._tasks.get(phase)
            if task is None:
                name = PHASES.get(phase, phase)
                task = self._progress.add_task(f"{name} {self._label}", total=total)
                self._tasks[phase] = task
        self._progress.update(task, completed=done, total=total)


@contextmanager
def transfer_progress(label: str, *, out: TextIO | None = None) -> Iterator[OnProgress]:
    """An `on_progress` callback for the client's upload and download methods."""
    stream = out if out is not None else sys.stderr
    if not stream.isatty():
        yield ProgressLines(label, stream)
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(file=stream),
        transient=False,
    )
    with progress:
        yield ProgressBars(label, progress)
