"""The README stays a front door, and the documents it leads to stay where it says they are:
its first commands are `make demo` and `make test`, it fits in 200 lines, every relative link
(and `#anchor`) in README.md and docs/ resolves, and every source file and module the documents
name exists (a renamed module makes this fail, not the reader)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").rglob("*.md"))]
# Written on other branches of the same change; until they land, links to them are not checked.
NOT_YET_WRITTEN = {ROOT / "docs" / "configuration.md", ROOT / "docs" / "testing.md"}

LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\n]+)`")
SOURCE_PATH = re.compile(r"[\w./-]+\.(?:py|sql|sh|proto)(?!\w)")
# Python modules by dotted name (`overcast.…` is left out: it also names exchanges and proto
# messages, `overcast.events`, `overcast.v1.Event`).
DOTTED = re.compile(r"(?<![\w./-])(?:controller|agent|client|daemon|devcluster)(?:\.\w+)+(?![\w/])")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#+ (.*)$", doc.read_text(), flags=re.M)}


def test_readme_opens_with_make_demo_and_make_test() -> None:
    first_block = re.search(r"```\w*\n(.*?)```", README.read_text(), flags=re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands[:2] == ["make demo", "make test"]


def test_readme_is_short() -> None:
    assert len(README.read_text().splitlines()) <= 200


def test_relative_links_and_anchors_resolve() -> None:
    broken = []
    for doc in DOCS:
        for target in LINK.findall(doc.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not checked here
            path, _, anchor = target.partition("#")
            resolved = (doc.parent / path).resolve() if path else doc
            if resolved in NOT_YET_WRITTEN and not resolved.exists():
                continue
            if not resolved.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and (resolved.is_dir() or anchor not in _anchors(resolved)):
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []


def test_source_files_named_in_the_docs_exist() -> None:
    files = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts]
    missing = []
    for doc in DOCS:
        for span in CODE.findall(doc.read_text()):
            for name in SOURCE_PATH.findall(span):
                name = name.lstrip("./")
                # Named relative to the repository, src/ or a package: any file ending so will do.
                if not any(f == name or f.endswith("/" + name) for f in files):
                    missing.append(f"{doc.relative_to(ROOT)}: {name}")
    assert missing == []


def _resolves(dotted: str) -> bool:
    """The longest importable prefix, then attributes: `controller.scheduler`,
    `devcluster.processes.Cluster.start_fleet`."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_modules_named_in_the_docs_exist() -> None:
    missing = [
        f"{doc.relative_to(ROOT)}: {name}"
        for doc in DOCS
        for span in CODE.findall(doc.read_text())
        for name in DOTTED.findall(span)
        if not SOURCE_PATH.fullmatch(name) and not _resolves(name)
    ]
    assert missing == []
