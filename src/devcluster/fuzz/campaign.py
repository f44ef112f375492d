"""A fuzz campaign: every public method in turn, `examples` drawn requests each (Hypothesis:
derandomized, or from a seed to explore), each sent and judged at once.

A call fails the campaign when the server answers a code its method may not answer
(`expected`), an error without a message, or when a process died. Hypothesis then shrinks
the request to the smallest that still fails and the campaign records it and goes on with
the next method: one run reports every method that fails, each with its smallest request.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from google.protobuf import message_factory, text_format
from google.protobuf.descriptor import Descriptor
from hypothesis import HealthCheck, Phase, example, given, settings, target
from hypothesis import seed as fixed_seed
from hypothesis import strategies as st

from devcluster.fuzz import calls, expected, payloads
from devcluster.fuzz.inventory import Ledger
from devcluster.fuzz.messages import Strategies, exemplar
from devcluster.fuzz.surface import Method
from devcluster.fuzz.vocabulary import Vocabulary

SHOWN = 400  # characters of a request a report shows


@dataclass(frozen=True)
class Drawn:
    """A drawn request: the bytes sent, and a short text for people (reports print it)."""

    data: bytes | list[bytes]
    shown: str

    def __repr__(self) -> str:
        return self.shown


def _show(descriptor: Descriptor, data: bytes) -> str:
    try:
        message = message_factory.GetMessageClass(descriptor).FromString(data)
    except Exception:
        return f"<{len(data)} bytes: malformed {data[:48]!r}>"
    if len(data) > 16 * SHOWN:  # text_format of a huge message takes seconds: its fields only
        fields = ", ".join(f.name for f, _ in message.ListFields())
        return f"<{len(data)} bytes: {descriptor.name} with {fields or 'unknown fields only'}>"
    text = text_format.MessageToString(message, as_one_line=True)
    what = f"{descriptor.name}{{{text}}}"
    if len(what) > SHOWN:
        what = f"{what[:SHOWN]}…"
    return f"<{len(data)} bytes: {what}>"


def requests(method: Method, wild: Strategies, plausible: Strategies) -> st.SearchStrategy[Drawn]:
    one = payloads.payloads(method.input, wild.message(method.input), plausible.message(method.input))
    if not method.client_streaming:
        return one.map(lambda d: Drawn(d, _show(method.input, d)))
    return st.lists(one, max_size=4).map(
        lambda ds: Drawn(ds, "[" + ", ".join(_show(method.input, d) for d in ds) + "]")
    )


@dataclass
class Report:
    codes: dict[str, collections.Counter[str]] = field(default_factory=dict)  # per method
    failures: dict[str, str] = field(default_factory=dict)  # per method: the smallest failure
    seconds: dict[str, float] = field(default_factory=dict)
    # Per method and code, the first answer's message and request: what the table is made of.
    samples: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def exercised(self) -> set[str]:
        return {path for path, codes in self.codes.items() if sum(codes.values())}

    def table(self) -> str:
        lines = []
        for path, codes in sorted(self.codes.items()):
            counts = ", ".join(f"{code} {n}" for code, n in codes.most_common())
            lines.append(f"{path} ({self.seconds.get(path, 0):.1f} s): {counts}")
        return "\n".join(lines)


class Campaign:
    def __init__(
        self,
        channel: grpc.Channel,
        *,
        examples: int,
        seed: int | None = None,
        alive: Callable[[], str | None] = lambda: None,
        ledger: Ledger | None = None,
    ) -> None:
        self._channel = channel
        self._examples = examples
        self._seed = seed
        self._alive = alive
        self.ledger = ledger or Ledger()
        self.report = Report()
        self._wild = Strategies()
        self._plausible = Strategies(Vocabulary(plausible=True))

    def run(self, methods: list[Method]) -> Report:
        for method in methods:
            started = time.monotonic()
            try:
                self._fuzz(method)
            except Exception as exc:
                notes = "\n".join(getattr(exc, "__notes__", []))
                self.report.failures[method.path] = f"{exc}\n{notes}".strip()
            self.report.seconds[method.path] = time.monotonic() - started
            dead = self._alive()
            if dead is not None:
                self.report.failures.setdefault(method.path, dead)
                break
        return self.report

    def _fuzz(self, method: Method) -> None:
        codes = self.report.codes.setdefault(method.path, collections.Counter())
        expected.allowed(method.path)  # KeyError: a method nobody decided on (expected.ALLOWED)

        @settings(
            max_examples=self._examples,
            deadline=None,
            database=None,
            derandomize=self._seed is None,
            phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        @given(requests(method, self._wild, self._plausible))
        def one(request: Drawn) -> None:
            outcome = calls.send(self._channel, method, request.data)
            code = "open" if outcome.open else outcome.code.name
            codes[code] += 1
            self.report.samples.setdefault(method.path, {}).setdefault(
                code, f"{outcome.details[:300]} ← {request}"
            )
            if outcome.ok:
                self.ledger.saw(method, request.data, outcome.responses)
            dead = self._alive()
            assert dead is None, f"{method.path}: {dead} after {request}"
            # Hypothesis steers towards requests that are accepted: they reach furthest.
            target(1.0 if outcome.ok else 0.0, label="accepted")
            if outcome.open:
                return
            wrong = expected.problem(method.path, outcome.code, outcome.details)
            assert wrong is None, f"{method.path} {wrong}: {outcome} to {request}"

        words = Vocabulary(plausible=True)
        for pick in (1, 0):  # run first: `pick` 1 is a new id where the vocabulary has two
            message = exemplar(method.input, words, pick)
            data = message.SerializeToString()
            one = example(Drawn([data] if method.client_streaming else data, _show(method.input, data)))(one)
        if self._seed is not None:
            one = fixed_seed(self._seed)(one)
        one()
