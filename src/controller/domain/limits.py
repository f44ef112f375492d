"""Bounds on what a request may ask for, so absurd input is refused with a reason."""

from __future__ import annotations

from controller.domain.errors import ViolationCollector

MAX_VCPUS = 1024
MAX_MEMORY_MIB = 16 * 1024 * 1024  # 16 TiB
MAX_DISK_GIB = 1024 * 1024  # 1 PiB
MAX_METADATA_ITEMS = 64
MAX_METADATA_KEY = 255
MAX_METADATA_VALUE = 1024
MAX_DESCRIPTION = 1024
MAX_REQUEST_ID = 128
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
DISK_FORMATS = ("qcow2", "raw", "aki", "ari")


def check_range(v: ViolationCollector, field: str, value: int, low: int, high: int) -> None:
    if value < low or value > high:
        v.add(field, f"must be between {low} and {high}, got {value}")


def check_metadata(v: ViolationCollector, field: str, items: dict[str, str]) -> None:
    if len(items) > MAX_METADATA_ITEMS:
        v.add(field, f"at most {MAX_METADATA_ITEMS} entries, got {len(items)}")
    for key, value in items.items():
        if not key or len(key) > MAX_METADATA_KEY:
            v.add(f"{field}[{key[:40]!r}]", f"keys must be 1-{MAX_METADATA_KEY} characters")
        if len(value) > MAX_METADATA_VALUE:
            v.add(f"{field}[{key[:40]!r}]", f"values must be at most {MAX_METADATA_VALUE} characters")


def check_request_id(v: ViolationCollector, request_id: str) -> None:
    if len(request_id) > MAX_REQUEST_ID:
        v.add("request_id", f"at most {MAX_REQUEST_ID} characters")


def check_page_size(v: ViolationCollector, page_size: int) -> int:
    if page_size < 0:
        v.add("page_size", "must not be negative")
        return DEFAULT_PAGE_SIZE
    if page_size == 0:
        return DEFAULT_PAGE_SIZE
    return min(page_size, MAX_PAGE_SIZE)
