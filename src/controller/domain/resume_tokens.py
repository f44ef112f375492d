"""WatchServers resume tokens: a PostgreSQL snapshot, when it was taken, and the filter.

A token holds the snapshot (`pg_current_snapshot()`, "xmin:xmax:xip,...") of the read after
which the client had seen everything: resuming sends the servers whose last writer that snapshot
does not see (migration 0014). Tokens are opaque to clients; anything a client sends is checked
here before it reaches SQL, so a forged or damaged token is INVALID_ARGUMENT, never a database
error.

A token older than `RESUME_WINDOW_S` is refused with OUT_OF_RANGE (as Kubernetes answers 410
Gone for a compacted resourceVersion): the client lists again. Today deleted servers' rows are
kept, so older points could be served; the window is the promise that lets a purge of deleted
rows come later without breaking resumes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass

from controller.domain.errors import InvalidArgument, OutOfRange

RESUME_WINDOW_S = 3600.0
_SNAPSHOT = re.compile(r"(\d{1,19}):(\d{1,19}):((?:\d{1,19},)*\d{1,19})?")
_XID_MAX = 2**63 - 1


@dataclass(frozen=True)
class ResumePoint:
    snapshot: str  # pg_snapshot text
    at: float  # wall-clock seconds when the read was made


def fingerprint(filter_text: str) -> str:
    """Of a filter's canonical form (str of server_filter's tree)."""
    return hashlib.sha256(filter_text.encode()).hexdigest()[:16]


def encode(point: ResumePoint, filter_text: str) -> str:
    raw = json.dumps({"x": point.snapshot, "t": round(point.at, 3), "f": fingerprint(filter_text)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def check_snapshot(text: str) -> bool:
    """Whether `text` is a snapshot PostgreSQL's pg_snapshot input accepts."""
    m = _SNAPSHOT.fullmatch(text)
    if m is None:
        return False
    xmin, xmax = int(m.group(1)), int(m.group(2))
    xip = [int(x) for x in m.group(3).split(",")] if m.group(3) else []
    if not 0 < xmin <= xmax <= _XID_MAX:
        return False
    return all(xmin <= x < xmax for x in xip) and xip == sorted(xip)


def decode(token: str, filter_text: str, now: float, field: str = "resume_token") -> ResumePoint:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=="))
        point = ResumePoint(data["x"], float(data["t"]))
        fp = data["f"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument.single(
            field, "not a token this API returned: pass resume_token unchanged"
        ) from exc
    if not isinstance(point.snapshot, str) or not check_snapshot(point.snapshot) or point.at != point.at:
        raise InvalidArgument.single(field, "not a token this API returned: pass resume_token unchanged")
    if fp != fingerprint(filter_text):
        raise InvalidArgument.single(
            field, "belongs to a watch or listing with another filter: resume with the same filter"
        )
    if now - point.at > RESUME_WINDOW_S:
        raise too_old(f"{now - point.at:.0f} s old, more than {RESUME_WINDOW_S:.0f} s")
    return point


def too_old(why: str) -> OutOfRange:
    return OutOfRange(
        f"resume_token cannot be resumed from ({why}): list the servers again (ListServers, or "
        "WatchServers without resume_token) and resume from the new token",
        reason="RESUME_TOKEN_EXPIRED",
    )
