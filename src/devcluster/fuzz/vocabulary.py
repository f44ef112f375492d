"""The words a fuzzed request is made of: by field *name*, never by RPC.

Arbitrary strings only ever test the first check of a request (a resource name that does not
parse). To reach further (a create that is accepted, then a get, a power action, an update, a
delete of what it made), a string field named like a resource (`name`, `parent`, `flavor`,
`server_id`, `etag`, `request_id`...) is drawn most of the time from a small vocabulary of
valid and almost valid values: a few ids, so that a create and a later get or delete meet the
same server; the rest of the time from anything (`any_text`). A new RPC whose fields are
named as the API's conventions say (AIP-122 names, AIP-155 request ids, AIP-154 etags) gets
the vocabulary without a line here; a field no rule knows gets arbitrary strings.

Integers named `*_size` (scaling groups' min, max and desired sizes) are drawn small or far
out of range, never in the thousands: a fuzzed group of 5,000 members would test the
scheduler's throughput on two test hosts, not input handling.
"""

from __future__ import annotations

import re
import uuid
from typing import TypeVar

from google.protobuf.descriptor import Descriptor
from hypothesis import strategies as st

T = TypeVar("T")

PROJECTS = ("demo", "fuzz")
SERVER_IDS = ("fz-a", "fz-b")
FLAVOR_IDS = ("m1.tiny", "fz.flavor")
IMAGE_IDS = ("cirros", "fz-image")
HOST_IDS = ("host-1", "host-2", "no-such-host")
SERVER_GROUP_IDS = ("fz-group",)
SCALING_GROUP_IDS = ("fz-scale",)


def _names() -> dict[str, list[str]]:
    """Resource names by collection."""
    names: dict[str, list[str]] = {
        "flavor": [f"flavors/{f}" for f in FLAVOR_IDS],
        "image": [f"images/{i}" for i in IMAGE_IDS],
        "host": [f"hosts/{h}" for h in HOST_IDS],
        "server": [],
        "servergroup": [],
        "scalinggroup": [],
    }
    for p in PROJECTS:
        names["server"] += [f"projects/{p}/servers/{s}" for s in SERVER_IDS]
        names["servergroup"] += [f"projects/{p}/serverGroups/{g}" for g in SERVER_GROUP_IDS]
        names["scalinggroup"] += [f"projects/{p}/scalingGroups/{g}" for g in SCALING_GROUP_IDS]
    return names


NAMES = _names()
ALL_NAMES = [n for collection in NAMES.values() for n in collection]
ALMOST_NAMES = [
    "projects/demo/servers/",
    "projects/demo/servers/Fz-A",
    "projects/demo/servers/fz-a/extra",
    "servers/fz-a",
    "flavors/",
    "flavors/M1.TINY",
    "images/../../etc/passwd",
    "hosts/host 1",
    "projects//servers/fz-a",
    "projects/demo/serverGroups/",
    "projects/demo/scalingGroups/FZ",
]

ODD = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\t\n\r",
    "'; DROP TABLE instances; --",
    "%s%n%x",
    "{{7*7}}",
    "../../../../etc/passwd",
    "\u202eevil",
    "\ufeff",
    "🙂" * 10,
    "ǅ" * 5,
    "a" * 63,
    "a" * 64,
    "a" * 129,
    "a" * 2000,
]


def _huge(char: str) -> str:
    return char * 100_000  # far past every limit the API sets (1-2 KiB at most)


BOGUS_PATHS = [
    "",
    "*",
    "nope",
    "metadata.key",
    "server.metadata",
    "a.b.c.d",
    "name.",
    ".name",
    "NAME",
    "\u039c\u0395\u03a4\u0391",  # Greek capitals that look like META
]


Words = tuple[tuple[str, ...], tuple[str, ...]]  # valid, almost valid


def _w(valid: list[str] | tuple[str, ...], *almost: str) -> Words:
    return tuple(valid), almost


_BY_FIELD: dict[str, Words] = {
    "parent": _w(
        [f"projects/{p}" for p in PROJECTS], "projects/", "projects/Demo", "demo", "projects/demo/x"
    ),
    "server_id": _w(SERVER_IDS, "Fz-A", "1fz", "fz-"),
    "flavor_id": _w(FLAVOR_IDS, "m1.small", ".fz", "FZ"),
    "image_id": _w(IMAGE_IDS, "-fz", "fz_image."),
    "server_group_id": _w(SERVER_GROUP_IDS, "Fz"),
    "scaling_group_id": _w(SCALING_GROUP_IDS, "fz scale"),
    "flavor": _w(NAMES["flavor"], "flavors/", *FLAVOR_IDS),
    "image": _w(NAMES["image"], "images/", *IMAGE_IDS),
    "kernel_image": _w(["", *NAMES["image"]], *IMAGE_IDS),
    "ramdisk_image": _w(["", *NAMES["image"]], *IMAGE_IDS),
    "server_group": _w(NAMES["servergroup"], "fz-group"),
    "scaling_group": _w(NAMES["scalinggroup"], "fz-scale"),
    "host": _w([*HOST_IDS, *NAMES["host"]]),
    "hosts": _w([*HOST_IDS, *NAMES["host"]]),
    "members": _w([*NAMES["server"], *SERVER_IDS]),
    "protected_members": _w([*NAMES["server"], *SERVER_IDS]),
    "etag": _w(["", "1", "2", "3"], "0", "-1", '"1"', "W/1"),
    "request_id": _w(["", "fz-req-1", "fz-req-2", "0b0e7a6e-2d7f-4b57-9d4b-0a5f1d3c9a11"]),
    "page_token": _w([""], "garbage", "eyJ9", "eyJvIjoxfQ==", "e30="),
    "availability_zone": _w(["", "az1"], "az2", "nope"),
    "disk_format": _w(["qcow2", "raw", "aki", "ari"], "vmdk"),
    "checksum_sha256": _w(
        ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"], "0" * 64, "xyz"
    ),
    "metric": _w(["cpu_utilization", "custom/requests"], "custom/", "custom/Bad Name", "memory"),
    "schedule": _w(["*/5 * * * *", "@hourly", "0 0 * * MON-FRI"], "0 0 31 2 *", "* * *", "61 * * * *"),
    "time_zone": _w(["UTC", "Europe/Paris"], "Mars/Olympus_Mons", "+02:00"),
    "kernel_args": _w(["", "console=ttyS0"]),
    "uid": _w([str(uuid.UUID(int=1))], "not-a-uuid"),
}
# Map keys (metadata, properties), as `<Entry message>.key`.
_KEYS = ("k", "sim.cpu", "sim.mem", "hw_architecture", "hypervisor_type")

_SIZE = re.compile(r"(^|_)size$")


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of the strategies, each drawn `weight` times in the sum of the weights (st.one_of
    draws its distinct strategies alike, whatever they repeat). Shrinks towards the first."""
    slots = [s for weight, s in choices for _ in range(weight)]
    return st.integers(0, len(slots) - 1).flatmap(lambda i: slots[i])


def _no_surrogates() -> st.SearchStrategy[str]:
    # A protobuf string is UTF-8: lone surrogates cannot be sent as a string at all (they are,
    # as raw bytes, by the malformed payloads).
    return st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


def any_text() -> st.SearchStrategy[str]:
    # One huge string in nine: a request with one is refused whatever else it holds. Built
    # when drawn, not held by the strategy: a strategy's repr shows what it holds.
    plain, odd = _no_surrogates(), st.sampled_from(ODD)
    return weighted((5, plain), (3, odd), (1, st.builds(_huge, st.sampled_from("xé"))))


def binary() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=64),
        st.binary(min_size=1000, max_size=5000),
        st.sampled_from([b"", b"QFI\xfb\x00\x00\x00\x03" + b"\x00" * 100]),
        st.builds(bytes, st.just(1 << 20)),  # 1 MiB of zeros, built when drawn
    )


class Vocabulary:
    """Strings and integers by field name. `plausible`: valid words only, small numbers (the
    requests that get past validation, to reach what comes after it)."""

    def __init__(self, *, plausible: bool = False) -> None:
        self.plausible = plausible

    def text(self, field: str, owner: Descriptor) -> st.SearchStrategy[str]:
        valid, almost = self.words(field, owner)
        if self.plausible:
            return st.sampled_from(valid) if valid else st.text(st.sampled_from("abc-. xyz"), max_size=12)
        if not valid:
            return any_text()
        # Mostly the vocabulary, mostly valid: one odd field is enough to refuse a request,
        # so the others must be plausible for a request to reach past its first check.
        weights = [(6, st.sampled_from(valid)), (1, any_text())]
        if almost:
            weights.append((2, st.sampled_from(almost)))
        return weighted(*weights)

    def words(self, field: str, owner: Descriptor) -> Words:
        if field.endswith(".key"):
            return _KEYS, ("", "a" * 300)
        if field in _BY_FIELD:
            return _BY_FIELD[field]
        if field == "name":
            return self._names_for(owner)
        return (), ()

    def _names_for(self, owner: Descriptor) -> Words:
        """Names of the collection the message is about (GetScalingGroupRequest → a scaling
        group's); every other and the almost valid ones as almost valid."""
        about = owner.name.lower()
        preferred = tuple(n for kind, names in NAMES.items() if kind in about for n in names)
        return preferred or tuple(ALL_NAMES), (*ALL_NAMES, *ALMOST_NAMES)

    def integers(self, field: str, owner: Descriptor, lo: int, hi: int) -> st.SearchStrategy[int] | None:
        if _SIZE.search(field) and field != "page_size":
            small, far = st.integers(max(lo, -2), min(hi, 3)), [-(2**31), 2**31 - 1, 10_001, 100_000]
        elif field in ("size_bytes", "offset", "tail_lines"):
            small, far = st.integers(max(lo, 0), min(hi, 4096)), [-1, -(2**63), 2**63 - 1, 2**40]
        elif self.plausible:  # counts, and sizes in MiB or GiB (a flavor's memory: 64 MiB at least)
            return st.one_of(st.integers(max(lo, 0), min(hi, 8)), st.sampled_from([64, 128, 512, 1024]))
        else:
            return None
        if self.plausible:
            return small
        return weighted((4, small), (1, st.sampled_from([v for v in far if lo <= v <= hi])))
