"""The README documents exactly the events the controller can publish."""

from __future__ import annotations

import re
from pathlib import Path

from controller.domain.lifecycle import event_catalogue

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_event_type_and_no_other() -> None:
    documented = re.findall(r"^\| `([a-z_.]+)` \|", README.read_text(), flags=re.M)
    assert sorted(documented) == sorted(event_catalogue())
