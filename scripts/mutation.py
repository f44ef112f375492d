"""`make mutation`: mutation testing of the controller's pure core (domain and scheduler).

Each mutant is one small change to one module (a comparison, an operator, a constant, a return
value, an enum member, an element left out of or swapped in a literal); the module's unit tests
run against it with -x. A mutant the tests fail on is killed; one they pass on survived, and
says which behaviour no test checks. docs/testing.md has the figures and the accepted survivors.

Why not mutmut: mutmut 3 mutates only function bodies (it swaps functions through a trampoline),
and the survivors that mattered here live in module-level tables (the action table, the filter
order, the id patterns). This script mutates the AST of the whole module, so those count too.

Mutants are compiled from the AST (no copy of the tree on disk) and run in a forked child of
this process, where an import hook serves the mutated module; the parent has pytest and the
third-party libraries imported already, so a mutant costs its tests' run time plus a fork.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import random
import select
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, ModuleType
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
CTL = "tests/unit/controller"
SCHEDULER_TESTS = (
    f"{CTL}/test_scheduler.py",
    f"{CTL}/test_scheduler_policy.py",
    f"{CTL}/test_scheduler_workers.py",
    f"{CTL}/test_scheduling_shortcuts.py",
    f"{CTL}/test_snapshot_cache.py",
    f"{CTL}/test_scheduler_caches.py",
)

# The pure modules and the unit tests that check them: none needs PostgreSQL, RabbitMQ or
# libvirt. Fast, focused files first (-x stops at the first failure). Left out: messages.py,
# whose tests write the outbox (PostgreSQL, a database per test: minutes per run).
TESTS: dict[str, tuple[str, ...]] = {
    "controller/domain/names.py": (f"{CTL}/test_names_limits_paging.py",),
    "controller/domain/limits.py": (f"{CTL}/test_names_limits_paging.py",),
    "controller/domain/paging.py": (f"{CTL}/test_names_limits_paging.py",),
    "controller/domain/lifecycle.py": (f"{CTL}/test_lifecycle.py", "tests/unit/test_event_catalogue.py"),
    "controller/domain/reconcile.py": (f"{CTL}/test_reconcile.py",),
    "controller/domain/ids.py": (f"{CTL}/test_ids.py",),
    "controller/domain/boot.py": (f"{CTL}/test_image_boot.py",),
    "controller/domain/image_format.py": (f"{CTL}/test_image_format.py",),
    "controller/domain/placements.py": (
        f"{CTL}/test_scheduler_workers.py",
        f"{CTL}/test_scheduler.py",
        f"{CTL}/test_host_failure.py",
    ),
    "controller/domain/host_failure.py": (f"{CTL}/test_host_failure.py", f"{CTL}/test_lifecycle.py"),
    "controller/domain/model.py": (
        f"{CTL}/test_domain_contract.py",
        f"{CTL}/test_lifecycle.py",
        f"{CTL}/test_rows_decode.py",
        f"{CTL}/test_image_boot.py",
        f"{CTL}/test_scheduler_workers.py",
    ),
    "controller/domain/errors.py": (
        f"{CTL}/test_domain_contract.py",
        f"{CTL}/test_names_limits_paging.py",
        f"{CTL}/test_console_relay.py",
        f"{CTL}/test_image_service.py",
    ),
    "controller/domain/server_groups.py": (
        f"{CTL}/test_names_limits_paging.py",
        f"{CTL}/test_domain_contract.py",
        f"{CTL}/test_scheduler_policy.py",
    ),
    "controller/scheduler/filters.py": SCHEDULER_TESTS,
    "controller/scheduler/weighers.py": (f"{CTL}/test_scheduler_policy.py", *SCHEDULER_TESTS),
    "controller/scheduler/policy.py": (f"{CTL}/test_scheduler_policy.py", *SCHEDULER_TESTS),
    "controller/scheduler/placement.py": SCHEDULER_TESTS,
    "controller/scheduler/hosts.py": SCHEDULER_TESTS,
    "controller/scheduler/snapshot.py": SCHEDULER_TESTS,
    "controller/scheduler/kept.py": (f"{CTL}/test_scheduler_caches.py", *SCHEDULER_TESTS),
}

# The kill rate (%) each module reached when last measured (docs/testing.md): a full run that
# falls below one fails, so a change that adds untested behaviour says so. Raise them as tests
# improve; lower one only with the reason written in docs/testing.md.
FLOORS: dict[str, float] = {
    "controller/domain/names.py": 100,
    "controller/domain/limits.py": 100,
    "controller/domain/paging.py": 93,
    "controller/domain/lifecycle.py": 99,
    "controller/domain/reconcile.py": 100,
    "controller/domain/host_failure.py": 83,
    "controller/domain/ids.py": 86,
    "controller/domain/boot.py": 100,
    "controller/domain/image_format.py": 97,
    "controller/domain/placements.py": 82,
    "controller/domain/model.py": 64,
    "controller/domain/errors.py": 100,
    "controller/domain/server_groups.py": 95,
    "controller/scheduler/filters.py": 85,
    "controller/scheduler/weighers.py": 91,
    "controller/scheduler/policy.py": 96,
    "controller/scheduler/placement.py": 83,
    "controller/scheduler/hosts.py": 95,
    "controller/scheduler/snapshot.py": 86,
    "controller/scheduler/kept.py": 70,
}

# Enums whose members a mutant swaps (Class.MEMBER -> the next member).
ENUM_SOURCES = ("controller/domain/model.py", "controller/domain/server_groups.py")

# Third-party modules the children share with the parent instead of importing each time.
PRELOAD = ("numpy", "pytest", "pytest_asyncio", "pytest_timeout", "structlog", "asyncpg", "grpc")

T = TypeVar("T")

PRAGMA = "pragma: no mutate"  # on a line: no mutants there (an accepted survivor, said why)


@dataclass
class Mutant:
    line: int
    what: str  # "a < b -> a <= b"
    apply: Callable[[], Callable[[], None]]  # changes the tree in place; returns the undo


def _swap_op(node: ast.AST, field: str, index: int | None, new: ast.AST) -> Callable[[], Callable[[], None]]:
    def apply() -> Callable[[], None]:
        if index is None:
            old = getattr(node, field)
            setattr(node, field, new)
            return lambda: setattr(node, field, old)
        seq = getattr(node, field)
        old = seq[index]
        seq[index] = new
        return lambda: seq.__setitem__(index, old)

    return apply


def _list_edit(seq: list[T], edit: Callable[[list[T]], list[T]]) -> Callable[[], Callable[[], None]]:
    def apply() -> Callable[[], None]:
        saved = list(seq)
        seq[:] = edit(saved)
        return lambda: seq.__setitem__(slice(None), saved)

    return apply


def _without(i: int) -> Callable[[list[T]], list[T]]:
    return lambda s: s[:i] + s[i + 1 :]


def _swapped(i: int) -> Callable[[list[T]], list[T]]:
    return lambda s: [*s[:i], s[i + 1], s[i], *s[i + 2 :]]


COMPARE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
    ast.In: ast.NotIn, ast.NotIn: ast.In,
}  # fmt: skip
BINARY: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult, ast.Mod: ast.Mult, ast.Pow: ast.Mult,
    ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.LShift: ast.RShift, ast.RShift: ast.LShift,
}  # fmt: skip
SYMBOL = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.Add: "+",
    ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
    ast.BitAnd: "&", ast.BitOr: "|", ast.LShift: "<<", ast.RShift: ">>", ast.And: "and", ast.Or: "or",
}  # fmt: skip


def _short(node: ast.AST) -> str:
    text = ast.unparse(node).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def enum_members() -> dict[str, list[str]]:
    """Class name -> its members, for the enums of ENUM_SOURCES."""
    members: dict[str, list[str]] = {}
    for rel in ENUM_SOURCES:
        for node in ast.parse((SRC / rel).read_text()).body:
            bases = [ast.unparse(b) for b in node.bases] if isinstance(node, ast.ClassDef) else []
            if isinstance(node, ast.ClassDef) and any("Enum" in b for b in bases):
                names = [
                    t.id
                    for stmt in node.body
                    if isinstance(stmt, ast.Assign)
                    for t in stmt.targets
                    if isinstance(t, ast.Name) and t.id.isupper()
                ]
                if len(names) > 1:
                    members[node.name] = names
    return members


class Finder:
    """Every mutant of one module's tree, in a fixed order."""

    def __init__(self, tree: ast.Module, source: str, enums: dict[str, list[str]]) -> None:
        self.enums = enums
        self.skip_lines = {i for i, text in enumerate(source.splitlines(), 1) if PRAGMA in text}
        self.skip: set[int] = set()  # ids of nodes not to mutate (docstrings, annotations)
        self.no_swap: set[int] = set()  # ids of sequences whose order means nothing
        self._mark_unmutated(tree)
        self.mutants: list[Mutant] = []
        for node in ast.walk(tree):
            if id(node) not in self.skip and getattr(node, "lineno", 0) not in self.skip_lines:
                self.mutants.extend(self._of(node))

    def _mark_unmutated(self, tree: ast.Module) -> None:
        def skip_all(node: ast.AST | None) -> None:
            if node is not None:
                self.skip.update(id(n) for n in ast.walk(node))

        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            first = body[0] if isinstance(body, list) and body else None
            value = first.value if isinstance(first, ast.Expr) else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                skip_all(first)  # a docstring
            if isinstance(node, ast.arg | ast.AnnAssign):
                skip_all(node.annotation)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                # Decorators declare (dataclass(frozen=True)): no behaviour a test could pin.
                for d in node.decorator_list:
                    skip_all(d)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                skip_all(node.returns)
            if isinstance(node, ast.keyword) and node.arg == "strict":
                skip_all(node.value)  # zip(..., strict=True) over equal lengths: equivalent
            if isinstance(node, ast.ImportFrom | ast.Import | ast.Subscript | ast.JoinedStr):
                # Imports; subscripts' string parts are type expressions; an f-string's text is
                # a message (its placeholders are still mutated through their own nodes).
                if isinstance(node, ast.JoinedStr):
                    self.skip.update(id(v) for v in node.values if isinstance(v, ast.Constant))
                elif isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Constant | ast.Name):
                    skip_all(node.slice)  # a type expression (Callable[[A, B], C]), not an index
                else:
                    skip_all(node)
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
                skip_all(node)
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("field", "dataclasses.field"):
                skip_all(node)  # a dataclass field's options (repr=, compare=...) declare too
            # Known-equivalent reorderings: the members of `x in (a, b)` and of an except clause.
            membership = isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In | ast.NotIn)
            if membership and isinstance(node.comparators[0], ast.Tuple | ast.List):  # type: ignore[attr-defined]
                self.no_swap.add(id(node.comparators[0]))  # type: ignore[attr-defined]
            if isinstance(node, ast.ExceptHandler) and isinstance(node.type, ast.Tuple):
                self.no_swap.add(id(node.type))

    def _of(self, node: ast.AST) -> Iterator[Mutant]:
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                new = COMPARE[type(op)]
                what = f"{SYMBOL[type(op)]} -> {SYMBOL[new]} in {_short(node)}"
                yield Mutant(line, what, _swap_op(node, "ops", i, new()))
        elif isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in BINARY:
            arith = BINARY[type(node.op)]
            what = f"{SYMBOL[type(node.op)]} -> {SYMBOL[arith]} in {_short(node)}"
            yield Mutant(line, what, _swap_op(node, "op", None, arith()))
        elif isinstance(node, ast.BoolOp):
            new_op: ast.boolop = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            what = f"{SYMBOL[type(node.op)]} -> {SYMBOL[type(new_op)]} in {_short(node)}"
            yield Mutant(line, what, _swap_op(node, "op", None, new_op))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
            # Drop the operator: `-x` -> `+x`, `not x` -> `not not x` (x's truth value).
            if isinstance(node.op, ast.Not):
                yield Mutant(line, f"drop not in {_short(node)}", self._drop_not(node))
            else:
                yield Mutant(line, f"drop - in {_short(node)}", _swap_op(node, "op", None, ast.UAdd()))
        elif isinstance(node, ast.Constant) and id(node) not in self.skip:
            value = node.value
            new_value: object
            if isinstance(value, bool):
                new_value = not value
            elif isinstance(value, int | float):
                new_value = value + 1
            elif isinstance(value, str):
                # Emptied, not wrapped in XX: tests match messages by their key phrase, and an
                # emptied text shows whether any test reads it at all.
                new_value = "" if value else "XX"
            else:
                return
            yield Mutant(line, f"{value!r} -> {new_value!r}", _swap_op(node, "value", None, new_value))  # type: ignore[arg-type]
        elif isinstance(node, ast.Return) and node.value is not None:
            if not (isinstance(node.value, ast.Constant) and node.value.value is None):
                none = ast.copy_location(ast.Constant(None), node.value)
                yield Mutant(
                    line, f"return {_short(node.value)} -> return None", _swap_op(node, "value", None, none)
                )
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            members = self.enums.get(node.value.id)
            if members and node.attr in members:
                other = members[(members.index(node.attr) + 1) % len(members)]
                what = f"{node.value.id}.{node.attr} -> {node.value.id}.{other}"
                yield Mutant(line, what, _swap_op(node, "attr", None, other))  # type: ignore[arg-type]
        elif isinstance(node, ast.Call):
            # A keyword argument left out: the callee's default instead (bump(inst, power_state=...)).
            for i, kw in enumerate(node.keywords):
                if kw.arg is not None and id(kw.value) not in self.skip:
                    what = f"leave out {kw.arg}= in {_short(node)}"
                    yield Mutant(line, what, _list_edit(node.keywords, _without(i)))
        elif isinstance(node, ast.Tuple | ast.List) and isinstance(node.ctx, ast.Load):
            elts = node.elts
            plain = all(isinstance(e, ast.Name | ast.Attribute | ast.Call) for e in elts)
            if len(elts) >= 2 and plain:
                for i, e in enumerate(elts):
                    yield Mutant(e.lineno, f"leave out {_short(e)}", _list_edit(elts, _without(i)))
                for i in range(len(elts) - 1 if id(node) not in self.no_swap else 0):
                    what = f"swap {_short(elts[i])} and {_short(elts[i + 1])}"
                    yield Mutant(elts[i].lineno, what, _list_edit(elts, _swapped(i)))

    @staticmethod
    def _drop_not(node: ast.UnaryOp) -> Callable[[], Callable[[], None]]:
        # `not x` -> `not not x`: x's truth value without the negation, same node kinds.
        def apply() -> Callable[[], None]:
            old = node.operand
            node.operand = ast.copy_location(ast.UnaryOp(ast.Not(), old), old)
            return lambda: setattr(node, "operand", old)

        return apply


class _Serve(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves one module from a code object (the mutant) instead of its file."""

    def __init__(self, name: str, path: Path, code: CodeType) -> None:
        self.name, self.path, self.code = name, path, code

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        return importlib.util.spec_from_file_location(fullname, self.path, loader=self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        exec(self.code, module.__dict__)


def _run_child(name: str, path: Path, code: CodeType | None, tests: Sequence[str], timeout: float) -> str:
    """'killed', 'survived', 'timeout' or 'error' (the tests could not run at all)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            import pytest

            if code is not None:
                sys.meta_path.insert(0, _Serve(name, path, code))
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            args = [*tests, "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--timeout=0"]
            os._exit(int(pytest.main(args)))
        except BaseException:
            os._exit(3)
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    if not ready:
        return "timeout"
    rc = os.waitstatus_to_exitcode(status)
    return {0: "survived", 1: "killed", 2: "killed"}.get(rc, "error")


@dataclass
class Result:
    module: str
    total: int  # mutants of the module
    run: int  # mutants run (all, or a sample)
    killed: int
    survivors: list[Mutant]
    seconds: float


def mutate_module(rel: str, sample: int | None, jobs_note: Callable[[str], None]) -> Result:
    path = SRC / rel
    name = rel.removesuffix(".py").replace("/", ".")
    source = path.read_text()
    tree = ast.parse(source, str(path))
    mutants = Finder(tree, source, enum_members()).mutants
    chosen = list(range(len(mutants)))
    if sample is not None and sample < len(mutants):
        chosen = sorted(random.Random(rel).sample(chosen, sample))
    tests = [t for t in TESTS[rel] if (ROOT / t).exists()]
    started = time.monotonic()
    if _run_child(name, path, None, tests, 300) != "survived":
        raise SystemExit(f"mutation: the tests of {rel} fail without any mutant: {' '.join(tests)}")
    baseline = time.monotonic() - started
    timeout = 3 * baseline + 5
    killed, survivors = 0, []
    for n, i in enumerate(chosen, 1):
        m = mutants[i]
        undo = m.apply()
        try:
            code = compile(tree, str(path), "exec", dont_inherit=True)
        except (SyntaxError, ValueError, TypeError):
            code = None  # an invalid tree cannot be run: counts as killed (never happens in practice)
        finally:
            undo()
        outcome = "killed" if code is None else _run_child(name, path, code, tests, timeout)
        if outcome == "error":
            raise SystemExit(f"mutation: pytest could not run for {rel} line {m.line} ({m.what})")
        if outcome == "survived":
            survivors.append(m)
        else:
            killed += 1
        jobs_note(f"\r{rel}: {n}/{len(chosen)} mutants, {killed} killed")
    jobs_note("\n")
    return Result(rel, len(mutants), len(chosen), killed, survivors, time.monotonic() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="paths under src/ (default: every module in TESTS)")
    parser.add_argument("--sample", type=int, help="run at most this many mutants per module (seeded)")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in TESTS]
    if unknown:
        parser.error(f"not a mutated module: {', '.join(unknown)} (choose from: {', '.join(TESTS)})")
    modules = args.modules or list(TESTS)
    if args.list:
        for rel in modules:
            source = (SRC / rel).read_text()
            for m in Finder(ast.parse(source), source, enum_members()).mutants:
                print(f"{rel}:{m.line}: {m.what}")
        return 0
    sys.path.insert(0, str(SRC))
    os.chdir(ROOT)
    for lib in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(lib)
    if any(m.startswith("controller") for m in sys.modules):
        raise SystemExit("mutation: a preloaded library imported the controller; it must not")

    def note(text: str) -> None:
        if not args.quiet and sys.stderr.isatty():
            sys.stderr.write(text)

    results = [mutate_module(rel, args.sample, note) for rel in modules]
    print("| module | killed / run | rate | mutants | seconds |")
    print("|---|---|---|---|---|")
    for r in results:
        rate = 100.0 * r.killed / r.run if r.run else 100.0
        print(f"| {r.module} | {r.killed} / {r.run} | {rate:.1f}% | {r.total} | {r.seconds:.0f} |")
    killed, run = sum(r.killed for r in results), sum(r.run for r in results)
    print(
        f"| all | {killed} / {run} | {100.0 * killed / max(run, 1):.1f}% | {sum(r.total for r in results)} "
        f"| {sum(r.seconds for r in results):.0f} |"
    )
    for r in results:
        for m in sorted(r.survivors, key=lambda m: m.line):
            print(f"survived: {r.module}:{m.line}: {m.what}")
    below = [
        f"{r.module}: {100.0 * r.killed / r.run:.1f}% < {FLOORS[r.module]}%"
        for r in results
        if r.run == r.total and r.module in FLOORS and 100.0 * r.killed / r.run < FLOORS[r.module]
    ]
    for line in below:
        print(f"mutation: below its floor: {line} (see the survivors above)", file=sys.stderr)
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
