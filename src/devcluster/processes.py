"""Real controller and agent processes for tests, benchmarks and the demo."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agent.hypervisor.testdriver import write_node_file
from overcast.v1 import common_pb2, host_pb2, host_pb2_grpc

REPO = Path(__file__).resolve().parents[2]  # the checkout: src/devcluster/../..


_RECONNECT_SOON = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 200),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    killed: bool = False  # by the test, on purpose

    def start(self) -> Proc:
        log = self.log_path.open("ab")
        env = {**os.environ, "PYTHONPATH": str(REPO / "src"), **self.env}
        self.popen = subprocess.Popen(
            self.argv,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
        )
        log.close()
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait for a clean exit, SIGKILL if it does not come."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def pause(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.killed = True
            self.popen.kill()
            self.popen.wait()


@dataclass
class Cluster:
    """One or more controllers and agents on libvirt test-driver hosts, all real processes."""

    workdir: Path
    database_url: str
    bus_prefix: str
    amqp_url: str
    controllers: list[Proc] = field(default_factory=list)
    agents: dict[str, Proc] = field(default_factory=dict)
    endpoints: list[str] = field(default_factory=list)
    agent_admin: dict[str, str] = field(default_factory=dict)
    heartbeat_interval: float = 0.5
    # Short, so load shows up (and goes stale) within a test's patience.
    metrics_interval: float = 0.2
    metrics_persist_interval: float = 1.0
    # Host command queues (controller and agents alike): "transient" for large simulations.
    host_queue_type: str = "quorum"
    fleets: list[Proc] = field(default_factory=list)
    fleet_hosts: list[str] = field(default_factory=list)  # host ids of every fleet simulation
    # Where an agent (by host id) reaches the controller, if not at the controllers' own
    # addresses (a proxy between them: devcluster.link_proxy).
    agent_controller: dict[str, str] = field(default_factory=dict)

    @property
    def simulation_state_dir(self) -> Path:
        """Where simulated hosts (agents on a simulated hypervisor, fleets) keep their domains."""
        return self.workdir / "simulation"

    @property
    def endpoint(self) -> str:
        return self.endpoints[0]

    @property
    def image_store(self) -> Path:
        return self.workdir / "images"

    def start_controller(self, *extra: str, replace: int | None = None) -> Proc:
        """Start a controller; `replace=i` restarts controller i on its old address."""
        n = len(self.controllers) + 1 if replace is None else replace + 1
        endpoint = f"127.0.0.1:{free_port()}" if replace is None else self.endpoints[replace]
        proc = Proc(
            f"controller-{n}",
            [
                sys.executable,
                "-m",
                "controller",
                "--listen",
                endpoint,
                "--heartbeat-interval",
                str(self.heartbeat_interval),
                *extra,
            ],
            {
                "OVERCAST_DATABASE_URL": self.database_url,
                "OVERCAST_AMQP_URL": self.amqp_url,
                "OVERCAST_BUS_PREFIX": self.bus_prefix,
                "OVERCAST_CONTROLLER_ID": f"controller-{n}",
                "OVERCAST_HOST_QUEUE_TYPE": self.host_queue_type,
                "OVERCAST_METRICS_INTERVAL": str(self.metrics_interval),
                "OVERCAST_METRICS_PERSIST_INTERVAL": str(self.metrics_persist_interval),
                # Shared by the cluster's controllers, as replicas share one store.
                "OVERCAST_IMAGE_STORE": str(self.image_store),
            },
            self.workdir / f"controller-{n}.log",
        ).start()
        if replace is None:
            self.controllers.append(proc)
            self.endpoints.append(endpoint)
        else:
            self.controllers[replace] = proc
        return proc

    def restart(self, proc: Proc) -> Proc:
        """Start `proc`'s command again (same flags, environment and log) in its place, after
        it was killed or stopped."""
        new = Proc(proc.name, proc.argv, proc.env, proc.log_path).start()
        for i, c in enumerate(self.controllers):
            if c is proc:
                self.controllers[i] = new
        for h, a in self.agents.items():
            if a is proc:
                self.agents[h] = new
        for i, f in enumerate(self.fleets):
            if f is proc:
                self.fleets[i] = new
        return new

    def wait_controller(self, index: int = 0, timeout: float = 60.0) -> None:
        proc, endpoint = self.controllers[index], self.endpoints[index]
        deadline = time.monotonic() + timeout
        # Reconnect soon: with gRPC's default backoff (1 s, growing 1.6 times) a channel opened
        # before the controller listens (its imports take seconds on a busy machine) noticed it
        # up to ~9 s late, most of a fault test's start.
        with grpc.insecure_channel(endpoint, options=_RECONNECT_SOON) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while time.monotonic() < deadline:
                if not proc.running:
                    raise RuntimeError(f"{proc.name} exited:\n{proc.log_tail()}")
                try:
                    resp = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if resp.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.1)
        raise TimeoutError(f"{proc.name} not serving after {timeout}s:\n{proc.log_tail()}")

    def node_file(self, host_id: str, cpus: int, memory_gib: int) -> Path:
        # In this process (python -m devcluster.testhost does the same from a shell): a
        # subprocess per host cost 3-5 s each on a busy machine, most of a fault test's start.
        return write_node_file(self.workdir / f"{host_id}.xml", cpus=cpus, memory_gib=memory_gib)

    def start_agent(
        self,
        host_id: str,
        *,
        cpus: int = 16,
        memory_gib: int = 32,
        controller: int = 0,
        extra: tuple[str, ...] = (),
        qemu_state_dir: Path | None = None,
        simulation: bool = False,
    ) -> Proc:
        """An agent on its own test-driver host file, with simulated metrics (python -m
        devcluster.agent: load from server metadata sim.cpu, sim.mem); with `simulation` on a
        simulated hypervisor whose domains outlive the agent (python -m
        devcluster.simulation.agent, state in `simulation_state_dir`); or with `qemu_state_dir`
        the agent itself on qemu:///system, booting real guests and measuring them (its images
        and instance files go there)."""
        if qemu_state_dir is not None:
            uri = "qemu:///system"
            extra = ("--state-dir", str(qemu_state_dir), *extra)
            entry_point = "agent"
        elif simulation:
            uri = f"simulation:///{host_id}"  # logged only: the simulation opens no libvirt
            extra = (
                "--simulation-state-dir",
                str(self.simulation_state_dir),
                "--simulation-vcpus",
                str(cpus),
                "--simulation-memory-gib",
                str(memory_gib),
                *extra,
            )
            entry_point = "devcluster.simulation.agent"
        else:
            node = self.workdir / f"{host_id}.xml"
            if not node.exists():
                node = self.node_file(host_id, cpus, memory_gib)
            uri = f"test://{node}"
            entry_point = "devcluster.agent"
        admin = self.agent_admin.get(host_id) or f"127.0.0.1:{free_port()}"
        self.agent_admin[host_id] = admin
        proc = Proc(
            host_id,
            [
                sys.executable,
                "-m",
                entry_point,
                "--host-id",
                host_id,
                "--libvirt-uri",
                uri,
                "--admin-listen",
                admin,
                "--heartbeat-interval",
                str(self.heartbeat_interval),
                *extra,
            ],
            {
                # Its own controller first, the others to fail over to.
                "OVERCAST_CONTROLLER": self.agent_controller.get(host_id)
                or ",".join(self.endpoints[controller:] + self.endpoints[:controller]),
                "OVERCAST_AMQP_URL": self.amqp_url,
                "OVERCAST_BUS_PREFIX": self.bus_prefix,
                "OVERCAST_METRICS_INTERVAL": str(self.metrics_interval),
                "OVERCAST_HOST_QUEUE_TYPE": self.host_queue_type,
            },
            self.workdir / f"{host_id}.log",
        ).start()
        self.agents[host_id] = proc
        return proc

    def wait_hosts_up(self, host_ids: list[str], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.endpoint) as ch:
            stub = host_pb2_grpc.HostServiceStub(ch)
            while time.monotonic() < deadline:
                for h in host_ids:
                    if not self.agents[h].running:
                        raise RuntimeError(f"agent {h} exited:\n{self.agents[h].log_tail()}")
                resp = stub.ListHosts(host_pb2.ListHostsRequest(page_size=1000), timeout=5)
                up = {x.name.split("/", 1)[1] for x in resp.hosts if x.state == common_pb2.HOST_STATE_UP}
                if set(host_ids) <= up:
                    return
                time.sleep(0.1)
        tails = "\n".join(f"--- {h}\n{self.agents[h].log_tail()}" for h in host_ids)
        raise TimeoutError(f"hosts {host_ids} not UP after {timeout}s\n{tails}")

    def start_fleet(
        self,
        hosts: int,
        *extra: str,
        host_prefix: str = "sim",
        first_host: int = 1,
        controller: int = 0,
    ) -> Proc:
        """A fleet simulation (python -m devcluster.simulation): `hosts` simulated agents in one
        process, each with its own stream and command queue; `extra` are its flags (shapes,
        zones, --op-delay, --metrics-interval …). Its stats go to fleet-N.json in the workdir,
        its hosts' domains to `simulation_state_dir` (so a fleet killed and started again is
        agents restarting, not hosts losing their disks)."""
        n = len(self.fleets) + 1
        stats = self.workdir / f"fleet-{n}.json"
        proc = Proc(
            f"fleet-{n}",
            [
                sys.executable,
                "-m",
                "devcluster.simulation",
                "--hosts",
                str(hosts),
                "--host-prefix",
                host_prefix,
                "--first-host",
                str(first_host),
                "--heartbeat-interval",
                str(self.heartbeat_interval),
                "--stats-file",
                str(stats),
                "--state-dir",
                str(self.simulation_state_dir),
                *extra,
            ],
            {
                "OVERCAST_CONTROLLER": ",".join(self.endpoints[controller:] + self.endpoints[:controller]),
                "OVERCAST_AMQP_URL": self.amqp_url,
                "OVERCAST_BUS_PREFIX": self.bus_prefix,
                "OVERCAST_METRICS_INTERVAL": str(self.metrics_interval),
                "OVERCAST_HOST_QUEUE_TYPE": self.host_queue_type,
            },
            self.workdir / f"fleet-{n}.log",
        ).start()
        width = max(5, len(str(first_host + hosts - 1)))
        self.fleet_hosts += [f"{host_prefix}-{i:0{width}d}" for i in range(first_host, first_host + hosts)]
        self.fleets.append(proc)
        return proc

    def count_hosts_up(self, prefix: str = "") -> int:
        """Hosts UP whose id starts with `prefix`, paging through ListHosts."""
        up = 0
        with grpc.insecure_channel(self.endpoint) as ch:
            stub = host_pb2_grpc.HostServiceStub(ch)
            request = host_pb2.ListHostsRequest(page_size=1000)
            while True:
                resp = stub.ListHosts(request, timeout=30)
                up += sum(
                    1
                    for x in resp.hosts
                    if x.state == common_pb2.HOST_STATE_UP and x.name.startswith(f"hosts/{prefix}")
                )
                if not resp.next_page_token:
                    return up
                request.page_token = resp.next_page_token

    def wait_fleet_up(self, timeout: float = 120.0, poll: float = 0.5) -> None:
        """Wait until every fleet-simulated host is UP."""
        deadline = time.monotonic() + timeout
        want = len(self.fleet_hosts)
        up = 0
        while time.monotonic() < deadline:
            for proc in self.fleets:
                if not proc.running:
                    raise RuntimeError(f"{proc.name} exited:\n{proc.log_tail()}")
            up = sum(self.count_hosts_up(p) for p in {h.rsplit("-", 1)[0] + "-" for h in self.fleet_hosts})
            if up >= want:
                return
            time.sleep(poll)
        tails = "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in self.fleets)
        raise TimeoutError(f"{up} of {want} simulated hosts UP after {timeout}s\n{tails}")

    def stop(self) -> list[str]:
        """Stop agents, fleets, then controllers; returns the names of processes that did not
        exit 0."""
        unclean = []
        for proc in [*self.agents.values(), *self.fleets, *self.controllers]:
            code = proc.stop()
            if code not in (0, None) and not proc.killed:
                unclean.append(f"{proc.name} (exit {code})\n{proc.log_tail(15)}")
        return unclean
