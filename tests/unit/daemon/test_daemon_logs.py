"""The one logging setup, in a process of its own (structlog's configuration is global)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[3] / "src")


def run_logging(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", f"import structlog\nfrom daemon import logs\n{script}"],
        env={**os.environ, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_json_lines_carry_the_bound_process_fields_at_the_chosen_level() -> None:
    done = run_logging(
        "logs.configure('json', 'warning', controller='c1', process='scheduler')\n"
        "log = structlog.get_logger('x')\n"
        "log.info('quiet.event')\n"
        "log.warning('loud.event', hosts=3)\n"
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert len(lines) == 1
    (line,) = lines
    assert (line["event"], line["level"], line["hosts"]) == ("loud.event", "warning", 3)
    assert (line["controller"], line["process"]) == ("c1", "scheduler")
    assert line["timestamp"].endswith("Z")


def test_console_lines_and_tracebacks() -> None:
    done = run_logging(
        "logs.configure('console', 'debug')\n"
        "log = structlog.get_logger('x')\n"
        "log.debug('detail.event')\n"
        "try:\n    1 / 0\nexcept ZeroDivisionError:\n    log.exception('crash.event')\n"
    )
    assert done.returncode == 0, done.stderr
    assert "detail.event" in done.stderr
    assert "crash.event" in done.stderr and "ZeroDivisionError" in done.stderr


def test_an_unknown_format_or_level_is_refused_with_the_choices() -> None:
    done = run_logging("logs.configure('xml')")
    assert "log format must be one of console, json, got 'xml'" in done.stderr
    done = run_logging("logs.configure('json', 'loud')")
    assert "log level must be one of debug, info, warning, error, critical, got 'loud'" in done.stderr
