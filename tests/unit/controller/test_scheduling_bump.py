import uuid
from datetime import UTC, datetime

from controller.domain.lifecycle import bump
from controller.domain.model import Instance, TaskState, VmState
from controller.services.scheduling import _bumped


def test_bumped_is_bump() -> None:
    inst = Instance(
        uuid.uuid4(), "p", "s1", "m1.small", "cirros", 1, 2048, 20, VmState.BUILDING,
        TaskState.SCHEDULING, metadata={"a": "b"}, version=4, created_at=datetime.now(UTC),
    )  # fmt: skip
    c = uuid.uuid4()
    changes = dict(host_id="h1", allocated=True, task_state=TaskState.SPAWNING, task_command=c)
    got, want = _bumped(inst, **changes), bump(inst, **changes)  # type: ignore[arg-type]
    assert got == want
    assert repr(got) == repr(want)
    assert got.version == 5 and inst.version == 4 and inst.host_id is None
    assert got.name == inst.name
