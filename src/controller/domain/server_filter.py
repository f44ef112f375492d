"""ListServers / WatchServers filters (AIP-160) and orders (AIP-132), parsed into typed values.

A strict subset of AIP-160, parsed here by hand: no Python package implements AIP-160 (Go has
go.einride.tech/aip), and a general grammar library would still leave the checks that matter
(which fields, which operators, which values) to this module. What is accepted:

    vm_state = ACTIVE AND (host = "hosts/h1" OR host = h2) AND NOT metadata.env = "dev"
    name = "web-*"            a prefix (a trailing * only); name = "web-1" exactly
    metadata.env = prod       metadata.env != prod      metadata:env   metadata.env:*   (has key)

Fields: `vm_state` (BUILDING, ACTIVE, STOPPED, ERROR, DELETED), `host`, `server_group`,
`scaling_group`, `name`, `metadata.KEY`. A value is the field's value as Server holds it
("hosts/h1", "projects/p/servers/web-1") or its last segment alone ("h1", "web-1"), quoted or
not. `AND`, `OR` (which binds tighter, as AIP-160 says), `NOT` or a leading `-`, parentheses.
Terms must be joined by AND or OR: AIP-160's bare juxtaposition (a fuzzy AND) is refused.

The result is a tree of `Compare`, `Not`, `AllOf`, `AnyOf` whose `str()` is a canonical form (the
page and resume tokens carry its fingerprint), evaluated in Python by `matches` (the watch) and
turned into SQL with bound parameters by the storage layer (the list): a test holds the two
together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

from controller.domain.errors import InvalidArgument
from controller.domain.model import Instance, VmState

MAX_FILTER_CHARS = 2000
MAX_TERMS = 50
MAX_DEPTH = 8

FieldName = Literal["vm_state", "host", "server_group", "scaling_group", "name", "metadata"]
FIELDS: tuple[str, ...] = ("vm_state", "host", "server_group", "scaling_group", "name", "metadata.KEY")
_FIELDS_TEXT = ", ".join(FIELDS)
_VM_STATES = {s.value: s for s in VmState}


@dataclass(frozen=True)
class Compare:
    """One restriction. op "=" (exact), "prefix" (name only), "has" (metadata key only)."""

    field: FieldName
    op: Literal["=", "prefix", "has"]
    value: str  # vm_state value, host/group/server id, prefix, or metadata value
    key: str = ""  # the metadata key

    def __str__(self) -> str:
        name = f"metadata.{self.key}" if self.field == "metadata" else self.field
        if self.op == "has":
            return f"{name}:*"
        shown = self.value + "*" if self.op == "prefix" else self.value
        return f"{name} = {_quote(shown)}"


@dataclass(frozen=True)
class Not:
    item: Expr

    def __str__(self) -> str:
        return f"NOT {_grouped(self.item)}"


@dataclass(frozen=True)
class AllOf:
    items: tuple[Expr, ...]

    def __str__(self) -> str:
        return " AND ".join(_grouped(i) for i in self.items)


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Expr, ...]

    def __str__(self) -> str:
        return " OR ".join(_grouped(i) for i in self.items)


Expr: TypeAlias = Compare | Not | AllOf | AnyOf
EVERYTHING = AllOf(())  # the empty filter


def _grouped(e: Expr) -> str:
    return f"({e})" if isinstance(e, (AllOf, AnyOf)) and len(e.items) > 1 else str(e)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def conjoin(*exprs: Expr) -> Expr:
    """The AND of filters, flattened (the typed filters of ListServersRequest join this way)."""
    items: list[Expr] = []
    for e in exprs:
        items.extend(e.items if isinstance(e, AllOf) else (e,))
    return items[0] if len(items) == 1 else AllOf(tuple(items))


# ---- evaluation (the watch, and the oracle the SQL is tested against) ----


def matches(e: Expr, inst: Instance) -> bool:
    if isinstance(e, Compare):
        return _compare(e, inst)
    if isinstance(e, Not):
        return not matches(e.item, inst)
    if isinstance(e, AllOf):
        return all(matches(i, inst) for i in e.items)
    return any(matches(i, inst) for i in e.items)


def _compare(c: Compare, inst: Instance) -> bool:
    if c.field == "vm_state":
        return inst.vm_state.value == c.value
    if c.field == "host":
        return inst.host_id == c.value
    if c.field == "server_group":
        return inst.server_group == c.value
    if c.field == "scaling_group":
        return inst.scaling_group == c.value
    if c.field == "name":
        return inst.server_id.startswith(c.value) if c.op == "prefix" else inst.server_id == c.value
    if c.op == "has":
        return c.key in inst.metadata
    return inst.metadata.get(c.key) == c.value


# ---- parsing ----

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lp>\() | (?P<rp>\)) | (?P<op>!=|<=|>=|=|<|>|:) |
        (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*') |
        (?P<word>[^\s()=!<>:"']+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # lp rp op str word end
    text: str
    pos: int  # 1-based character position in the filter, for the person fixing it


def _tokens(text: str, field: str) -> list[_Tok]:
    out: list[_Tok] = []
    i = 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        m = _TOKEN.match(text, i)
        if m is None or m.lastgroup is None:
            start = len(text[i:]) - len(text[i:].lstrip()) + i
            what = "unterminated string" if text[start] in "\"'" else f"unexpected character {text[start]!r}"
            raise _bad(field, start + 1, what)
        start = m.start(m.lastgroup)
        tok = m.group(m.lastgroup)
        if m.lastgroup == "str":
            if len(tok) < 2 or tok[-1] != tok[0]:
                raise _bad(field, start + 1, "unterminated string")
            tok = re.sub(r"\\(.)", r"\1", tok[1:-1])
        out.append(_Tok(m.lastgroup, tok, start + 1))
        i = m.end()
    out.append(_Tok("end", "", len(text) + 1))
    return out


def _bad(field: str, pos: int, what: str) -> InvalidArgument:
    return InvalidArgument.single(field, f"at character {pos}: {what}")


class _Parser:
    def __init__(self, text: str, field: str, project: str) -> None:
        self.field = field
        self.project = project
        self.toks = _tokens(text, field)
        self.i = 0
        self.terms = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "word" and tok.text == word

    def parse(self) -> Expr:
        e = self.conjunction(0)
        tok = self.peek()
        if tok.kind == "rp":
            raise _bad(self.field, tok.pos, "unmatched ')'")
        if tok.kind != "end":
            raise _bad(self.field, tok.pos, f"expected AND or OR before {tok.text!r}")
        return e

    def conjunction(self, depth: int) -> Expr:
        items = [self.disjunction(depth)]
        while self.keyword("AND"):
            self.take()
            items.append(self.disjunction(depth))
        return items[0] if len(items) == 1 else AllOf(tuple(items))

    def disjunction(self, depth: int) -> Expr:
        items = [self.term(depth)]
        while self.keyword("OR"):
            self.take()
            items.append(self.term(depth))
        return items[0] if len(items) == 1 else AnyOf(tuple(items))

    def term(self, depth: int) -> Expr:
        tok = self.peek()
        if self.keyword("NOT"):
            self.take()
            return Not(self.simple(depth))
        if tok.kind == "word" and tok.text.startswith("-") and len(tok.text) > 1:
            self.toks[self.i] = _Tok("word", tok.text[1:], tok.pos + 1)
            return Not(self.simple(depth))
        return self.simple(depth)

    def simple(self, depth: int) -> Expr:
        tok = self.peek()
        if tok.kind == "lp":
            if depth >= MAX_DEPTH:
                raise _bad(self.field, tok.pos, f"parentheses nested deeper than {MAX_DEPTH}")
            self.take()
            e = self.conjunction(depth + 1)
            close = self.take()
            if close.kind != "rp":
                raise _bad(self.field, close.pos, "expected ')'")
            return e
        return self.restriction()

    def restriction(self) -> Expr:
        tok = self.take()
        if tok.kind != "word" or tok.text in ("AND", "OR", "NOT"):
            shown = "the end of the filter" if tok.kind == "end" else repr(tok.text)
            raise _bad(self.field, tok.pos, f"expected a field ({_FIELDS_TEXT}), got {shown}")
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise _bad(self.field, tok.pos, f"at most {MAX_TERMS} restrictions")
        name, key = tok.text, ""
        if name.startswith("metadata."):
            name, key = "metadata", name.removeprefix("metadata.")
            if not key:
                raise _bad(self.field, tok.pos, "metadata.KEY needs a key")
        if name not in ("vm_state", "host", "server_group", "scaling_group", "name", "metadata"):
            raise _bad(self.field, tok.pos, f"unknown field {tok.text!r}: filter on {_FIELDS_TEXT}")
        op = self.take()
        if op.kind != "op":
            raise _bad(self.field, op.pos, f"expected =, != or : after {tok.text}")
        if op.text not in ("=", "!=", ":"):
            raise _bad(self.field, op.pos, f"{op.text} is not supported: use =, != or :")
        value = self.take()
        if value.kind not in ("word", "str"):
            raise _bad(self.field, value.pos, f"expected a value after {tok.text} {op.text}")
        if value.kind == "word" and value.text in ("AND", "OR", "NOT"):
            raise _bad(
                self.field, value.pos, f"expected a value after {tok.text} {op.text}, got {value.text}"
            )
        c = self.compare(name, key, op, value)
        return Not(c) if op.text == "!=" else c

    def compare(self, name: str, key: str, op: _Tok, value: _Tok) -> Compare:
        v = value.text
        pos = value.pos
        if op.text == ":":
            if name == "metadata" and not key:
                return Compare("metadata", "has", "", key=self.metadata_key(v, pos))
            if name == "metadata" and v == "*":
                return Compare("metadata", "has", "", key=key)
            raise _bad(self.field, op.pos, "':' (has) is for metadata: metadata:KEY or metadata.KEY:*")
        if name == "metadata":
            if not key:
                raise _bad(self.field, op.pos, "compare one key: metadata.KEY = VALUE")
            return Compare("metadata", "=", v, key=key)
        if name == "vm_state":
            state = _VM_STATES.get(v.removeprefix("VM_STATE_"))
            if state is None:
                raise _bad(self.field, pos, f"vm_state is one of {', '.join(_VM_STATES)}, got {v!r}")
            return Compare("vm_state", "=", state.value)
        if name == "host":
            return Compare("host", "=", self.segment(v, pos, ("hosts",), _HOST_ID))
        if name == "server_group":
            return Compare(
                "server_group", "=", self.segment(v, pos, ("projects", self.project, "serverGroups"))
            )
        if name == "scaling_group":
            return Compare(
                "scaling_group", "=", self.segment(v, pos, ("projects", self.project, "scalingGroups"))
            )
        if v.endswith("*"):
            prefix = self.segment(v[:-1], pos, ("projects", self.project, "servers"), _ID_PREFIX)
            return Compare("name", "prefix", prefix)
        return Compare("name", "=", self.segment(v, pos, ("projects", self.project, "servers")))

    def segment(
        self, value: str, pos: int, parents: tuple[str, ...], pattern: re.Pattern[str] | None = None
    ) -> str:
        """The id in `value`: the full name under `parents`, or the id alone."""
        parts = value.split("/")
        if len(parts) > 1:
            if tuple(parts[:-1]) != parents:
                whole = "/".join((*parents, "{id}"))
                raise _bad(
                    self.field, pos, f"{value!r} is not a name of the form {whole!r} (or the id alone)"
                )
            value = parts[-1]
        if not (pattern or _ID).fullmatch(value) or "*" in value:
            hint = " (* only at the end of a name, as a prefix)" if "*" in value else ""
            raise _bad(self.field, pos, f"{value!r} is not a valid id{hint}")
        return value

    def metadata_key(self, value: str, pos: int) -> str:
        if not value or len(value) > 255:
            raise _bad(self.field, pos, "metadata keys are 1-255 characters")
        return value


_ID = re.compile(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?")
_ID_PREFIX = re.compile(r"[a-z0-9-]{0,63}")
_HOST_ID = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")


def parse(text: str, *, project: str, field: str = "filter") -> Expr:
    """The filter `text` as a tree (EVERYTHING when empty); InvalidArgument on `field` with the
    character position and what to write instead."""
    if len(text) > MAX_FILTER_CHARS:
        raise InvalidArgument.single(field, f"at most {MAX_FILTER_CHARS} characters, got {len(text)}")
    if "\x00" in text:  # PostgreSQL text cannot hold it: refused here, not by the database
        raise InvalidArgument.single(field, f"at character {text.index(chr(0)) + 1}: NUL is not allowed")
    if not text.strip():
        return EVERYTHING
    return _Parser(text, field, project).parse()


# ---- order_by (AIP-132) ----

OrderKey = Literal["name", "create_time"]


@dataclass(frozen=True)
class Order:
    key: OrderKey = "name"
    descending: bool = False

    def __str__(self) -> str:
        return self.key + (" desc" if self.descending else "")


ORDERS = ("name", "name desc", "create_time", "create_time desc")


def parse_order(text: str, field: str = "order_by") -> Order:
    words = text.split()
    if not words:
        return Order()
    found: Mapping[str, OrderKey] = {"name": "name", "create_time": "create_time"}
    key = found.get(words[0])
    ok = key is not None and (len(words) == 1 or (len(words) == 2 and words[1] in ("asc", "desc")))
    if key is None or not ok:
        raise InvalidArgument.single(
            field, f"{text[:100]!r} is not supported: order by one of {', '.join(repr(o) for o in ORDERS)}"
        )
    return Order(key, len(words) == 2 and words[1] == "desc")
