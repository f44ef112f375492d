"""The load board: what the controller's load view posts is what a scheduler process reads,
fresh or NaN by the same rule, whenever that process (re)started; and the controller's
heartbeat window, growing when the controller stops saying it."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import pytest

from controller.processes.load_board import WINDOW_REFRESH_S, LoadBoard, LoadBoardReader
from controller.services.load_view import HostSample, LoadView


class FakeStdin:
    """What LoadBoard.attach writes to: a child's stdin."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data.extend(data)

    def is_closing(self) -> bool:
        return False

    def lines(self) -> list[bytes]:
        return bytes(self.data).splitlines()


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def board() -> Iterator[LoadBoard]:
    b = LoadBoard(capacity=3)
    yield b
    b.close()


def reader_of(board: LoadBoard, clock: Clock, stdin: FakeStdin) -> LoadBoardReader:
    """A scheduler process's view: its own descriptor of the board, the lines it was sent."""
    r = LoadBoardReader(os.dup(board.fd), clock)
    for line in stdin.lines():
        r.learn(line)
    return r


def sample(cpu: float) -> HostSample:
    return HostSample(0.0, cpu, 1024, 1024, 0.0, 0.0, 0.0, True)


def test_loads_the_fleet_view_absorbs_are_read_fresh_then_stale() -> None:
    clock = Clock()
    fleet = LoadView(stale_after_s=3.0, alpha=1.0, clock=clock)
    board = LoadBoard(capacity=10)
    fleet.on_load = board.post
    stdin = FakeStdin()
    board.attach(stdin)
    fleet.absorb("h1", sample(0.5), [])
    fleet.absorb("h2", sample(0.25), [])
    reader = reader_of(board, clock, stdin)
    hosts = ["h1", "h2", "never-sampled"]

    got = reader.fresh_cpu_utils(hosts)
    assert got[:2] == [0.5, 0.25] and math.isnan(got[2])
    # The same answer as the load view's own, which the scheduler reads when it runs inline.
    assert str(got) == str(fleet.fresh_cpu_utils(hosts))

    clock.now += 2.0
    fleet.absorb("h2", sample(0.75), [])
    clock.now += 1.5  # h1 last sampled 3.5 s ago: stale; h2 1.5 s ago
    got = reader.fresh_cpu_utils(hosts)
    assert math.isnan(got[0]) and got[1] == 0.75
    assert str(got) == str(fleet.fresh_cpu_utils(hosts))
    board.close()


def test_a_restarted_reader_learns_every_slot_and_then_new_ones(board: LoadBoard) -> None:
    clock = Clock()
    board.post("h1", 0.1, clock.now + 3)
    first = FakeStdin()
    board.attach(first)
    board.post("h2", 0.2, clock.now + 3)
    assert len(first.lines()) == 2  # h1 when attached, h2 as it came

    second = FakeStdin()  # the scheduler process was restarted
    board.attach(second)
    board.post("h3", 0.3, clock.now + 3)
    reader = reader_of(board, clock, second)
    assert reader.fresh_cpu_utils(["h3", "h2", "h1"]) == [0.3, 0.2, 0.1]


def test_hosts_beyond_the_capacity_are_scored_as_unknown(board: LoadBoard) -> None:
    clock = Clock()
    stdin = FakeStdin()
    board.attach(stdin)
    for n in range(5):
        board.post(f"h{n}", 0.5, clock.now + 3)
    got = reader_of(board, clock, stdin).fresh_cpu_utils([f"h{n}" for n in range(5)])
    assert got[:3] == [0.5, 0.5, 0.5]
    assert all(math.isnan(x) for x in got[3:])


def test_bad_lines_are_ignored(board: LoadBoard) -> None:
    clock = Clock()
    reader = LoadBoardReader(os.dup(board.fd), clock)
    for line in (b"", b"not json", b'["x", "h1"]', b"[7, 8]", b'[99, "far"]', b'[0, "h0"]'):
        reader.learn(line)
    board.post("h0", 0.5, clock.now + 3)
    assert reader.fresh_cpu_utils(["h0"]) == [0.5]


def test_the_heartbeat_window_grows_when_the_controller_stops_posting_it() -> None:
    clock = Clock()
    board = LoadBoard(capacity=3, clock=clock)
    reader = LoadBoardReader(os.dup(board.fd), clock)
    assert reader.heartbeat_window_s(3.0) == 3.0  # nothing posted yet: the configured window
    board.set_heartbeat_window(4.5)
    assert reader.heartbeat_window_s(3.0) == 4.5
    clock.now += 10.0  # a controller stalled for 10 s is 10 s (less the refresh) further behind
    assert reader.heartbeat_window_s(3.0) == pytest.approx(4.5 + 10.0 - WINDOW_REFRESH_S)
    board.close()
