"""Opaque page tokens (AIP-158): the last key seen plus a fingerprint of the query."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from controller.domain.errors import InvalidArgument, ViolationCollector
from controller.domain.limits import check_page_size

T = TypeVar("T")


def _fingerprint(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


def encode(last_key: str, scope: str) -> str:
    raw = json.dumps({"k": last_key, "s": _fingerprint(scope)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str, scope: str) -> str | None:
    """The key after which the page starts, or None for the first page."""
    if not token:
        return None
    try:
        # Tokens travel without their "=" padding; the decoder ignores any beyond what it needs.
        raw = base64.urlsafe_b64decode(token + "==")
        data = json.loads(raw)
        key, fp = data["k"], data["s"]
    except (ValueError, KeyError, TypeError) as exc:  # binascii.Error is a ValueError
        raise InvalidArgument.single(
            "page_token", "not a token this API returned: pass next_page_token unchanged"
        ) from exc
    if not isinstance(key, str) or fp != _fingerprint(scope):
        raise InvalidArgument.single(
            "page_token", "belongs to a different query: keep the same filters across pages"
        )
    return key


def cut(found: Sequence[T], size: int, key: Callable[[T], str], scope: str) -> tuple[list[T], str]:
    """A page from `size + 1` fetched items: the page and the token for the next one."""
    page = list(found[:size])
    token = encode(key(page[-1]), scope) if len(found) > size else ""
    return page, token


async def fetch_page(
    page_size: int,
    page_token: str,
    scope: str,
    fetch: Callable[[str | None, int], Awaitable[Sequence[T]]],
    key: Callable[[T], str],
) -> tuple[list[T], str]:
    """Validate the page request, fetch one item more than asked (to know whether another
    page follows) and cut it: every List in the API is this."""
    v = ViolationCollector()
    size = check_page_size(v, page_size)
    v.raise_if_any()
    found = await fetch(decode(page_token, scope), size + 1)
    return cut(found, size, key, scope)
