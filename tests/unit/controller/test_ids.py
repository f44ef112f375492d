import os
import pickle
import uuid

from controller.domain import ids


def test_uuid4_is_a_random_version_4_uuid() -> None:
    many = [ids.uuid4() for _ in range(5000)]  # several refills of the pool
    assert len(set(many)) == len(many)
    for u in many[:600]:
        assert type(u) is uuid.UUID
        assert u.version == 4
        assert u.variant == uuid.RFC_4122
        assert uuid.UUID(str(u)) == u
        assert hash(uuid.UUID(str(u))) == hash(u)
        assert pickle.loads(pickle.dumps(u)) == u
    # Every bit outside the version and variant is random: each is seen both set and clear.
    fixed = (0xF000 << 64) | (0xC000 << 48)
    ored = anded = 0
    anded = ~0
    for u in many:
        ored |= u.int
        anded &= u.int
    assert ored | fixed == (1 << 128) - 1
    assert anded & ~fixed == 0


def test_a_forked_child_does_not_repeat_its_parent() -> None:
    ids.uuid4()  # the pool holds UUIDs the child must not reuse
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.write(w, ids.uuid4().bytes)
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    child = uuid.UUID(bytes=os.read(r, 16))
    os.close(r)
    assert child not in {ids.uuid4() for _ in range(300)}
