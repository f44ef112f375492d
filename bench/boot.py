"""Real boots of the tiny guest under QEMU, through Overcast and straight through libvirt.

One controller and one agent on qemu:///system (TCG unless KVM is proven to work). Each
round boots one server through Overcast and, alternately, the same domain XML defined and
started directly with libvirt (a fresh qcow2 overlay each time, as the agent makes), on the
same machine in the same run. A warm-up round (image download, caches) is not counted.

    p50_active_s    CreateServer call to ACTIVE seen by the client (WatchServers)
    p50_console_s   CreateServer call to the guest's boot line in GetConsoleLog
    direct_p50_start_s / direct_p50_console_s   the same two points without Overcast
    overhead_p50_ms           p50_active_s - direct_p50_start_s
    overhead_console_p50_ms   p50_console_s - direct_p50_console_s

Prints progress to stderr and one JSON object on the last line of stdout (with `cores`).
Needs root (scripts/libvirtd.sh) and the Debian archive once (scripts/build_tiny_guest.sh).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

from client import AsyncClient
from devcluster import isolation
from devcluster.processes import REPO, Cluster
from overcast.v1 import common_pb2

GUEST = REPO / ".cache" / "guest"
URI = "qemu:///system"
POLL_S = 0.02
PROJECT = "bench"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_script(name: str, *args: str) -> None:
    done = subprocess.run([str(REPO / "scripts" / name), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"scripts/{name} failed:\n{done.stderr}")


async def overcast_boot(api: AsyncClient, name: str) -> tuple[float, float, str]:
    """Seconds to ACTIVE and to the boot line; and the domain's uuid."""
    line = f"OVERCAST-BOOT name=projects/{PROJECT}/servers/{name} "
    t0 = time.perf_counter()
    await api.create_server(name, flavor="m1.tiny", image="tiny", project=PROJECT)
    server = await api.wait_for_server(name, project=PROJECT, timeout=120)
    active = time.perf_counter() - t0
    if server is None or server.vm_state != common_pb2.VM_STATE_ACTIVE:
        raise SystemExit(f"{name} did not become ACTIVE: {server}")
    while line not in (await api.get_console_log(name, PROJECT)).text:
        if time.perf_counter() - t0 > 120:
            raise SystemExit(f"{name}: no boot line in its console")
        await asyncio.sleep(POLL_S)
    return active, time.perf_counter() - t0, server.uid


def direct_xml(template: str, workdir: Path, name: str) -> tuple[str, Path, Path]:
    """The agent's XML for a new domain: new uuid and name (not "oc-": no agent will take
    it for its own), its own overlay and console log."""
    root = ET.fromstring(template)
    uid = str(uuid.uuid4())
    root.find("uuid").text = uid  # type: ignore[union-attr]
    root.find("name").text = f"ocbench-{uid}"  # type: ignore[union-attr]
    metadata = root.find("metadata")
    if metadata is not None:
        root.remove(metadata)
    instance = workdir / uid
    instance.mkdir(mode=0o711)
    disk, console = instance / "disk.qcow2", instance / "console.log"
    source = root.find("devices/disk/source")
    assert source is not None
    source.set("file", str(disk))
    backing = root.find("devices/disk/backingStore")
    if backing is not None:
        root.find("devices/disk").remove(backing)  # type: ignore[union-attr]
    log_el = root.find("devices/serial/log")
    assert log_el is not None
    log_el.set("file", str(console))
    cmdline = root.find("os/cmdline")
    assert cmdline is not None and cmdline.text
    cmdline.text = cmdline.text.replace(cmdline.text.split("overcast.name=")[1].split()[0], name)
    return ET.tostring(root, encoding="unicode"), disk, console


def direct_boot(
    conn: libvirt.virConnect, template: str, workdir: Path, base: Path, name: str
) -> tuple[float, float]:
    """Seconds to a started domain and to its boot line, doing what the agent does itself:
    overlay, define, start."""
    xml, disk, console = direct_xml(template, workdir, name)
    line = f"OVERCAST-BOOT name={name} "
    t0 = time.perf_counter()
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(disk), "1G"],
        check=True,
    )
    dom = conn.defineXML(xml)
    dom.create()
    started = time.perf_counter() - t0
    while not (console.exists() and line in console.read_text(errors="replace")):
        if time.perf_counter() - t0 > 120:
            raise SystemExit(f"{name}: no boot line in {console}")
        time.sleep(POLL_S)
    booted = time.perf_counter() - t0
    dom.destroy()
    dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    return started, booted


async def measure(cluster: Cluster, base: Path, direct_dir: Path, boots: int) -> dict[str, object]:
    """`base`: where the agent caches the root image; `direct_dir`: the direct domains' files."""
    files = {f: GUEST / f for f in ("vmlinuz", "initrd.img", "root.qcow2")}
    conn = libvirt.open(URI)
    try:
        async with AsyncClient(cluster.endpoint, timeout=120) as api:
            log("uploading the tiny guest")
            await api.upload_image("tiny-kernel", files["vmlinuz"], "aki")
            await api.upload_image("tiny-initrd", files["initrd.img"], "ari")
            await api.upload_image(
                "tiny",
                files["root.qcow2"],
                "qcow2",
                kernel_image="images/tiny-kernel",
                ramdisk_image="images/tiny-initrd",
            )
            host = await api.get_host(f"hosts/{next(iter(cluster.agents))}")
            rows: list[tuple[float, float, float, float]] = []
            template = ""
            for i in range(boots + 1):
                name = f"boot-{i:02d}"
                active, console, uid = await overcast_boot(api, name)
                if not template:
                    template = conn.lookupByUUIDString(uid).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
                started, booted = await asyncio.to_thread(
                    direct_boot, conn, template, direct_dir, base, f"direct-{i:02d}"
                )
                await api.delete_server(name, PROJECT)
                await api.wait_for_server(name, project=PROJECT, timeout=60)
                label = "warm-up" if i == 0 else f"{i}/{boots}"
                log(
                    f"  {label}: overcast active {active:.3f}s console {console:.3f}s | "
                    f"direct started {started:.3f}s console {booted:.3f}s"
                )
                if i:
                    rows.append((active, console, started, booted))
    finally:
        conn.close()

    def p50(k: int) -> float:
        return statistics.median(r[k] for r in rows)

    return {
        "boots": boots,
        "domain_type": host.domain_type,
        "p50_active_s": round(p50(0), 3),
        "p50_console_s": round(p50(1), 3),
        "direct_p50_start_s": round(p50(2), 3),
        "direct_p50_console_s": round(p50(3), 3),
        "overhead_p50_ms": round((p50(0) - p50(2)) * 1000, 1),
        "overhead_console_p50_ms": round((p50(1) - p50(3)) * 1000, 1),
        "max_active_s": round(max(r[0] for r in rows), 3),
    }


def remove_domains_of(owner: str) -> None:
    """Whatever the agent left defined (a failed run), found by its owner mark."""
    conn = libvirt.open(URI)
    try:
        for dom in conn.listAllDomains(0):
            try:
                mark = dom.metadata(
                    libvirt.VIR_DOMAIN_METADATA_ELEMENT, "https://overcast.dev/xmlns/libvirt/owner/1"
                )
            except libvirt.libvirtError:
                continue
            if f">{owner}<" in mark:
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    finally:
        conn.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--boots", type=int, default=10)
    args = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/boot.py needs root (it starts libvirtd through scripts/libvirtd.sh)")
    log("preparing libvirtd and the tiny guest")
    run_script("libvirtd.sh")
    run_script("build_tiny_guest.sh", str(GUEST))

    run = isolation.new_run_id()
    db = f"overcast_bench_{run}"
    workdir = Path(tempfile.mkdtemp(prefix="overcast-bench-"))
    state_dir = Path(tempfile.mkdtemp(prefix="overcast-bench-state-", dir="/var/tmp"))
    state_dir.chmod(0o711)
    direct_dir = state_dir / "direct"
    direct_dir.mkdir(mode=0o711)
    base = state_dir / "images" / hashlib.sha256((GUEST / "root.qcow2").read_bytes()).hexdigest()
    cluster = Cluster(workdir, isolation.database_url(db), f"overcast-bench-{run}", isolation.AMQP_URL)
    host_id = f"bench-qemu-{run}"
    try:
        log("starting a controller and a QEMU agent")
        cluster.start_controller()
        cluster.wait_controller()
        cluster.start_agent(host_id, qemu_state_dir=state_dir)
        cluster.wait_hosts_up([host_id])
        figures = asyncio.run(measure(cluster, base, direct_dir, args.boots))
    except BaseException:
        log(f"failed; process logs kept in {workdir}")
        raise
    else:
        shutil.rmtree(workdir)
    finally:
        cluster.stop()
        isolation.cleanup([db], cluster.bus_prefix, list(cluster.agents))
        remove_domains_of(host_id)
        shutil.rmtree(state_dir, ignore_errors=True)
    print(json.dumps({**figures, "cores": os.cpu_count()}))


if __name__ == "__main__":
    main()
