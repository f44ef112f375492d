"""A PostgreSQL and a RabbitMQ of the fault run's own, to stop and start at will.

The fault tests take PostgreSQL and RabbitMQ away under a running cluster. They do it to
servers of their own, started from the machine's binaries in a directory of their own on free
ports, never to the machine's: the machine's serve every other test and benchmark running
beside them (on these shared machines, other people's), and a restart there would fail those.
A private server behaves as the machine's does (same binaries, default configuration), and
the product under test only sees a URL go away and come back.

What is started is always stopped, whatever ends the run:
- `close()` (a `with` block, a pytest fixture's finalizer) stops both, waiting for each to exit;
- `atexit`, and handlers for SIGTERM, SIGHUP and SIGINT installed while any runs, do the same
  for a run that is interrupted (then the signal does what it did before);
- a run killed outright (SIGKILL) leaves its servers behind, in their own session: the next
  run stops them (`reap_stale`, from the owner's pid written beside them) and removes their
  directory.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(os.environ.get("OVERCAST_FAULTS_DIR", "/var/tmp"))  # 0711 parents: postgres reads it
PREFIX = "overcast-faults-"


class ServiceError(RuntimeError):
    """A private server could not be found, started or stopped."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def postgres_bindir() -> Path:
    """Where initdb and postgres are: OVERCAST_PG_BINDIR, else Debian's newest version."""
    given = os.environ.get("OVERCAST_PG_BINDIR")
    candidates = [Path(given)] if given else []
    candidates += sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/postgres")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    if (found := shutil.which("initdb")) is not None:
        candidates.append(Path(found).parent)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "postgres").exists():
            return bindir
    raise ServiceError(
        "no PostgreSQL server binaries (initdb, postgres): install postgresql or set OVERCAST_PG_BINDIR"
    )


def rabbitmq_bindir() -> Path:
    """Where rabbitmq-server and rabbitmqctl are (not Debian's /usr/sbin wrappers, which switch
    to the machine's rabbitmq user and node)."""
    given = os.environ.get("OVERCAST_RABBITMQ_BINDIR")
    for bindir in [Path(given)] if given else [Path("/usr/lib/rabbitmq/bin")]:
        if (bindir / "rabbitmq-server").exists() and (bindir / "rabbitmqctl").exists():
            return bindir
    raise ServiceError(
        "no RabbitMQ server (rabbitmq-server): install rabbitmq-server or set OVERCAST_RABBITMQ_BINDIR"
    )


def _wait(check: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log.exists() else ""
            raise ServiceError(f"{what} after {timeout:g} s\n{tail}")
        time.sleep(0.05)


def _end(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """Send `sig` to the process (not its children: a PostgreSQL backend takes SIGINT as
    "cancel the query") and wait; SIGKILL its whole session if it stays."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # Whatever is left in its session (a backend, erl_child_setup) goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class PrivatePostgres:
    """A PostgreSQL server in `root/pg` on a free port; trust authentication, user postgres.
    `stop()` is a fast shutdown (what `pg_ctl restart -m fast` does first: sessions are
    terminated, 57P01), `start()` starts it on the same port with the same data."""

    def __init__(self, root: Path) -> None:
        self.bindir = postgres_bindir()
        self.data = root / "pg"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        # PostgreSQL refuses to run as root: then as the postgres user, through setpriv (which
        # execs it). Not Popen(user=...): that makes Python fork() instead of vfork(), and a
        # fork of a process running gRPC threads crashed the child (SIGSEGV) before its exec.
        self._user = "postgres" if os.geteuid() == 0 else None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _initdb(self) -> None:
        self.data.mkdir(mode=0o700)
        if self._user is not None:
            pw = pwd.getpwnam(self._user)
            for path in (self.data.parent, self.data):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        initdb = [str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]
        subprocess.run(
            [*self._as_user(), *initdb, "--no-sync"],
            check=True,
            capture_output=True,
        )

    def _as_user(self) -> list[str]:
        if self._user is None:
            return []
        return ["setpriv", f"--reuid={self._user}", f"--regid={self._user}", "--init-groups", "--"]

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        if not self.data.exists():
            self._initdb()
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            [
                *self._as_user(),
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_directories=",
                "-c",
                "fsync=off",  # a test server: shut down cleanly, never crashed
                "-c",
                "max_connections=200",
                "-c",
                "log_lock_waits=on",  # evidence: a statement waiting 1 s (deadlock_timeout) for a lock
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        _register(self)
        _wait(self._ready, timeout, f"PostgreSQL on port {self.port} not accepting connections", self.log)

    def _ready(self) -> bool:
        if not self.running:
            code = self.proc.returncode if self.proc is not None else None
            raise ServiceError(f"PostgreSQL exited ({code}):\n{self.log.read_text(errors='replace')[-2000:]}")
        probe = subprocess.run(
            [
                str(self.bindir / "pg_isready"),
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
            ],
            check=False,
        )
        return probe.returncode == 0

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is not None:
            _end(self.proc, signal.SIGINT, timeout)  # SIGINT: fast shutdown
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


class PrivateRabbit:
    """A RabbitMQ node of its own (name, ports, data) in `root/rabbitmq`; guest/guest on
    loopback. `stop()` is a graceful node shutdown (SIGTERM), `start()` boots it again with
    its durable queues and exchanges (a few seconds)."""

    def __init__(self, root: Path) -> None:
        self.bindir = rabbitmq_bindir()
        self.dir = root / "rabbitmq"
        self.log = root / "rabbitmq.log"
        self.port = free_port()
        self.node = f"{root.name}@localhost"
        self._dist_port = free_port()  # Erlang distribution: rabbitmqctl talks to the node there
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.dir),  # its own Erlang cookie
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self._dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.dir / "pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def start(self, timeout: float = 60.0) -> None:
        if self.running:
            return
        if not self.dir.exists():
            self.dir.mkdir()
            (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
            (self.dir / "enabled_plugins").write_text("[].\n")
            (self.dir / "rabbitmq-env.conf").write_text("")
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            [str(self.bindir / "rabbitmq-server")],
            env=self._env(),
            cwd=self.dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        _register(self)
        _wait(self._ready, timeout, f"RabbitMQ node {self.node} not accepting AMQP connections", self.log)

    def _ready(self) -> bool:
        if not self.running:
            raise ServiceError(f"RabbitMQ exited:\n{self.log.read_text(errors='replace')[-2000:]}")
        if not _answers(self.port):
            return False
        # The listener opens before the node has finished booting (queues recovered).
        probe = subprocess.run(
            [str(self.bindir / "rabbitmqctl"), "-n", self.node, "await_startup", "--timeout", "30"],
            env=self._env(),
            capture_output=True,
            check=False,
        )
        return probe.returncode == 0

    def stop(self, timeout: float = 60.0) -> None:
        if self.proc is not None:
            _end(self.proc, signal.SIGTERM, timeout)  # the script stops the node gracefully
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


class PrivateServices:
    """A PostgreSQL and a RabbitMQ of this run's own (see the module docstring)."""

    def __init__(self, root: Path | None = None, *, keep_logs: Path | None = None) -> None:
        """`keep_logs`: a directory where `close()` copies the servers' logs."""
        postgres_bindir(), rabbitmq_bindir()  # ServiceError before anything is made
        self.keep_logs = keep_logs
        reap_stale()
        self.root = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root or ROOT))
        self.root.chmod(0o755)
        (self.root / "owner").write_text(str(os.getpid()))
        _roots.append(self.root)
        self.postgres = PrivatePostgres(self.root)
        self.rabbit = PrivateRabbit(self.root)

    def start(self) -> PrivateServices:
        try:
            self.postgres.start()
            self.rabbit.start()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop both servers (waiting for them) and remove their directory."""
        try:
            self.rabbit.stop()
        finally:
            self.postgres.stop()
            if self.keep_logs is not None:
                for log in (self.postgres.log, self.rabbit.log):
                    with contextlib.suppress(OSError):
                        shutil.copy(log, self.keep_logs / log.name)
            _unregister(self.postgres)
            _unregister(self.rabbit)
            shutil.rmtree(self.root, ignore_errors=True)
            with contextlib.suppress(ValueError):
                _roots.remove(self.root)

    def __enter__(self) -> PrivateServices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- always stopped ---------------------------------------------------------------------------

_running: list[PrivatePostgres | PrivateRabbit] = []
_roots: list[Path] = []
_previous: dict[int, Any] = {}
_at_exit: list[bool] = []
_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def _register(service: PrivatePostgres | PrivateRabbit) -> None:
    if service in _running:
        return
    _running.append(service)
    if not _at_exit:
        atexit.register(stop_all)
        _at_exit.append(True)
    if not _previous:
        with contextlib.suppress(ValueError):  # not the main thread: atexit and close() remain
            for sig in _SIGNALS:
                _previous[sig] = signal.signal(sig, _on_signal)


def _unregister(service: PrivatePostgres | PrivateRabbit) -> None:
    with contextlib.suppress(ValueError):
        _running.remove(service)
    if not _running and _previous:
        for sig, handler in _previous.items():
            signal.signal(sig, handler)
        _previous.clear()


def stop_all() -> None:
    """Stop every private server this process started and remove their directories (atexit,
    signals)."""
    for service in list(_running):
        with contextlib.suppress(Exception):
            service.stop(timeout=10.0)
        _unregister(service)
    while _roots:
        shutil.rmtree(_roots.pop(), ignore_errors=True)


def _on_signal(sig: int, frame: FrameType | None) -> None:
    previous = _previous.get(sig, signal.SIG_DFL)
    stop_all()  # restores the previous handlers
    if callable(previous):
        previous(sig, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)


def reap_stale(root: Path | None = None) -> list[Path]:
    """Stop the servers of runs whose process is gone (killed before it could), and remove
    their directories; returns those directories."""
    reaped = []
    for run in (root or ROOT).glob(f"{PREFIX}*"):
        try:
            owner = int((run / "owner").read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        for pidfile in (run / "pg" / "postmaster.pid", run / "rabbitmq" / "pid"):
            with contextlib.suppress(OSError, ValueError, ProcessLookupError, PermissionError):
                pid = int(pidfile.read_text().split()[0])
                os.killpg(os.getpgid(pid), signal.SIGKILL)
        shutil.rmtree(run, ignore_errors=True)
        reaped.append(run)
    return reaped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
