"""docs/api.md documents exactly the events the controller can publish."""

from __future__ import annotations

import re
from pathlib import Path

from controller.domain.lifecycle import event_catalogue

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
HEADER = "| event type | announces |"


def documented_event_types(text: str) -> list[str]:
    """The first column of the table under HEADER, up to the first line that is not a row."""
    lines = text.splitlines()
    start = lines.index(HEADER) + 2  # past the header and its |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return [m.group(1) for row in rows if (m := re.match(r"\| `([a-z_.]+)` \|", row))]


def test_api_doc_lists_every_event_type_and_no_other() -> None:
    documented = documented_event_types(API_DOC.read_text())
    assert sorted(documented) == sorted(event_catalogue())


def test_every_event_type_appears_once_in_the_whole_doc_table() -> None:
    # A second table of event types elsewhere (or a row the parser above skipped) would let the
    # catalogue and the doc drift apart unnoticed: every `a.b` in a first column is an event.
    everywhere = re.findall(r"^\| `([a-z_]+\.[a-z_.]+)` \|", API_DOC.read_text(), flags=re.M)
    assert sorted(everywhere) == sorted(event_catalogue())
