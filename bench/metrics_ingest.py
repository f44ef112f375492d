"""Metrics ingestion cost in the controller: how many agent samples per second it absorbs.

Two measurements, both through the real code (no database: ingestion never touches it):

- handler: serialized AgentMessage(metrics) → parse (as gRPC does) → the gateway's metrics
  branch (heartbeat mark, sanity-checked conversion, LoadView.absorb), in a loop on one core;
  also with one WatchHostMetrics-style listener attached.
- stream: the real AgentGatewayApi over real gRPC streams on localhost, `--agents` concurrent
  agents each sending its samples as fast as the stream takes them (client and server share
  this machine's cores).

Prints progress to stderr and one JSON object on the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
import uuid
from typing import Any

import grpc
import structlog
import uvloop

from controller.api.agents import AgentGatewayApi
from controller.services.load_view import HostUpdate, LoadView
from overcast.agent.v1 import agent_pb2, agent_pb2_grpc


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sample_message(seq: int, instances: list[str]) -> agent_pb2.AgentMessage:
    m = agent_pb2.HostMetricsSample(
        cpu_util=0.42, memory_used_mib=12_000, memory_free_mib=20_000, load1=3.0, load5=2.5, load15=2.0
    )
    m.sampled_at.GetCurrentTime()
    m.simulated = True
    for n, uid in enumerate(instances):
        m.instances.add(instance_uid=uid, cpu_util=(n % 10) / 10, memory_rss_mib=512, simulated=True)
    return agent_pb2.AgentMessage(seq=seq, metrics=m)


class Beats:
    """HostService's part in the metrics branch: an in-memory heartbeat mark."""

    heartbeat_interval_s = 1.0

    def __init__(self) -> None:
        self.beats: set[str] = set()
        self.registered = 0

    def heartbeat(self, host_id: str, sent_at: float = 0.0) -> None:
        self.beats.add(host_id)

    def on_interval_change(self, listener: Any) -> None:
        pass

    def connected(self, host_id: str) -> None:
        pass

    def disconnected(self, host_id: str) -> None:
        pass

    async def register(self, inv: Any, domains: Any) -> None:
        self.registered += 1


def handler_rate(samples: int, hosts: int, per_host: int, listener: bool) -> float:
    fleet = LoadView(stale_after_s=3.0)
    if listener:
        heard: list[HostUpdate] = []
        fleet.add_listener(lambda u: heard.append(u) if len(heard) < 1000 else None)
    beats = Beats()
    gateway = AgentGatewayApi(beats, None, "bench", _no_queue, load_view=fleet)  # type: ignore[arg-type]
    host_ids = [f"host-{h}" for h in range(hosts)]
    bodies = [
        sample_message(h, [str(uuid.uuid4()) for _ in range(per_host)]).SerializeToString()
        for h in range(hosts)
    ]
    parse = agent_pb2.AgentMessage.FromString
    started = time.perf_counter()
    for n in range(samples):
        i = n % hosts
        msg = parse(bodies[i])
        # The gateway's branch, as in AgentGatewayApi._read.
        if msg.WhichOneof("kind") == "metrics":
            gateway.absorb_metrics(host_ids[i], msg.metrics)
    elapsed = time.perf_counter() - started
    assert fleet.absorbed == samples
    return samples / elapsed


async def _no_queue(host_id: str) -> None:
    return None


async def stream_rate(samples: int, agents: int, per_host: int) -> tuple[float, int]:
    fleet = LoadView(stale_after_s=3.0)
    beats = Beats()

    gateway = AgentGatewayApi(beats, None, "bench", _no_queue, load_view=fleet)  # type: ignore[arg-type]
    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentGatewayServicer_to_server(gateway, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    each = samples // agents

    async def agent(n: int) -> None:
        host_id = f"host-{n}"
        register = agent_pb2.AgentMessage(
            seq=0,
            register=agent_pb2.Register(
                inventory=agent_pb2.HostInventory(host_id=host_id, vcpus=16, memory_mib=32768)
            ),
        )
        message = sample_message(1, [str(uuid.uuid4()) for _ in range(per_host)])
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = agent_pb2_grpc.AgentGatewayStub(channel).Connect()
            await call.write(register)
            await call.read()  # Registered
            for seq in range(1, each + 1):
                message.seq = seq
                await call.write(message)
            await call.done_writing()
            await call.wait_for_connection()
            while await call.read() is not grpc.aio.EOF:  # the controller ends the stream after ours
                pass

    started = time.perf_counter()
    await asyncio.gather(*(agent(n) for n in range(agents)))
    elapsed = time.perf_counter() - started
    await server.stop(None)
    return fleet.absorbed / elapsed, fleet.absorbed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=20_000)
    p.add_argument("--hosts", type=int, default=1000, help="distinct hosts in the handler test")
    p.add_argument("--instances", type=int, default=10, help="instances per sample")
    p.add_argument("--agents", type=int, default=50, help="concurrent agent streams in the stream test")
    a = p.parse_args()
    # The gateway logs every agent (dis)connection: keep stderr for the figures.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    log(f"handler: {a.samples} samples of {a.instances} instances over {a.hosts} hosts")
    handler_rate(2000, a.hosts, a.instances, False)  # warm up
    plain = handler_rate(a.samples, a.hosts, a.instances, False)
    log(f"  {plain:,.0f} samples/s ({1e6 / plain:.1f} µs each)")
    watched = handler_rate(a.samples, a.hosts, a.instances, True)
    log(f"  with a watcher listening: {watched:,.0f} samples/s")
    empty = handler_rate(a.samples, a.hosts, 0, False)
    log(f"  host-only samples: {empty:,.0f} samples/s")

    log(f"stream: {a.samples} samples over {a.agents} real gRPC streams")
    streamed, absorbed = uvloop.run(stream_rate(a.samples, a.agents, a.instances))
    log(f"  {streamed:,.0f} samples/s absorbed ({absorbed} samples)")
    print(
        json.dumps(
            {
                "handler_samples_per_s": round(plain),
                "handler_us_per_sample": round(1e6 / plain, 2),
                "handler_with_watcher_samples_per_s": round(watched),
                "handler_host_only_samples_per_s": round(empty),
                "stream_samples_per_s": round(streamed),
                "samples": a.samples,
                "instances_per_sample": a.instances,
                "agents": a.agents,
                "cores": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
