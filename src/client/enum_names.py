"""Short names for the API's enum values, as users type and read them.

Every value of an enum carries its type's name as a prefix (VmState's ACTIVE is VM_STATE_ACTIVE,
AIP-126; buf lint checks it), so the short name is the value's name without that prefix: users
type `--state active` and read ACTIVE, the API keeps names unique across its package.
"""

from __future__ import annotations

import re

from google.protobuf.descriptor import EnumDescriptor


def prefix(descriptor: EnumDescriptor) -> str:
    """ "VM_STATE_" for VmState, "KIND_" for ServerChange.Kind."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", descriptor.name).upper() + "_"


def short(descriptor: EnumDescriptor, name: str) -> str:
    """ "ACTIVE" for VM_STATE_ACTIVE (a name without the prefix is returned as it is)."""
    return name.removeprefix(prefix(descriptor))


def short_names(descriptor: EnumDescriptor, *, exclude: tuple[str, ...] = ()) -> list[str]:
    """The short names of the enum's values, UNSPECIFIED and `exclude` (short names) left out."""
    names = [short(descriptor, v.name) for v in descriptor.values]
    return [n for n in names if n != "UNSPECIFIED" and n not in exclude]


def number(descriptor: EnumDescriptor, name: str) -> int | None:
    """The value named `name`, short or full, any case, "-" as "_"; None when there is none."""
    key = name.strip().upper().replace("-", "_")
    for candidate in (prefix(descriptor) + key, key):
        value = descriptor.values_by_name.get(candidate)
        if value is not None and not value.name.endswith("_UNSPECIFIED"):
            return int(value.number)
    return None
