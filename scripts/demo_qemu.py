"""`make demo HYPERVISOR=qemu`: real guests. A controller and one agent on qemu:///system
(libvirtd started by scripts/libvirtd.sh), the tiny guest (scripts/build_tiny_guest.sh)
uploaded as images, two servers booted, their consoles read, power operations, cleanup.

Runs as root (libvirtd). Under TCG a guest reaches user space in a few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import libvirt

from devcluster import demo_runs, isolation
from devcluster.processes import REPO, Cluster

GUEST = REPO / ".cache" / "guest"
DEMOS = REPO / ".demo" / "qemu"  # one directory per demo run
OWNER_NAMESPACE = "https://overcast.dev/xmlns/libvirt/owner/1"
sys.path.insert(0, str(Path(__file__).parent))
from demo import port_free, run_cli, say  # noqa: E402  (the test-driver demo's helpers)


def prepare() -> None:
    if os.geteuid() != 0:
        raise SystemExit("demo: the QEMU demo needs root (it starts libvirtd through scripts/libvirtd.sh)")
    for script, args in (("libvirtd.sh", []), ("build_tiny_guest.sh", [str(GUEST)])):
        say(f"scripts/{script}")
        subprocess.run([str(REPO / "scripts" / script), *args], check=True)


def remove_leftover_domains(host: str) -> None:
    """Domains the agent of `host` left behind (found by the owner mark)."""
    conn = libvirt.open("qemu:///system")
    try:
        for dom in conn.listAllDomains(0):
            try:
                mark = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, OWNER_NAMESPACE)
            except libvirt.libvirtError:
                continue
            if f">{host}<" in mark:
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    finally:
        conn.close()


def state_dir_of(run: demo_runs.DemoRun) -> Path:
    return Path(f"/var/tmp/overcast-demo-qemu-{run.run_id}")  # 0711 parents for QEMU's user


def host_of(run: demo_runs.DemoRun) -> str:
    return f"qemu-{run.run_id}"  # the owner mark on its domains names the run


async def demo(keep: bool) -> None:
    for old in demo_runs.abandoned(DEMOS):  # what killed demos left; never a running one's
        remove_leftover_domains(host_of(old))
        shutil.rmtree(state_dir_of(old), ignore_errors=True)
        await old.remove([host_of(old)])
    run = demo_runs.start(DEMOS)
    workdir, state_dir, host = run.workdir, state_dir_of(run), host_of(run)
    os.mkdir(state_dir, 0o711)
    cluster = Cluster(workdir, run.database_url, run.bus_prefix, isolation.AMQP_URL)
    port = 50051 if port_free(50051) else 0
    say("Starting the controller and one agent on qemu:///system")
    cluster.start_controller(*(["--listen", f"127.0.0.1:{port}"] if port else []))
    try:
        if port:
            cluster.endpoints[0] = f"127.0.0.1:{port}"
        cluster.wait_controller()
        ep = cluster.endpoint
        cluster.start_agent(host, qemu_state_dir=state_dir)
        cluster.wait_hosts_up([host])
        run_cli(ep, "host", "show", host)

        say("Upload the tiny guest: a kernel, a ramdisk and a 16 MiB root disk that boots with them")
        image = ("image", "create")
        run_cli(ep, *image, "tiny-kernel", "--disk-format", "aki", "--file", str(GUEST / "vmlinuz"))
        run_cli(ep, *image, "tiny-initrd", "--disk-format", "ari", "--file", str(GUEST / "initrd.img"))
        run_cli(ep, *image, "tiny", "--disk-format", "qcow2", "--file", str(GUEST / "root.qcow2"),
                "--kernel-image", "images/tiny-kernel", "--ramdisk-image", "images/tiny-initrd")  # fmt: skip

        say("Boot two servers; the agent downloads the images once, verifies them and shares them")
        for name in ("vm-1", "vm-2"):
            run_cli(ep, "server", "create", name, "--flavor", "m1.tiny", "--image", "tiny", "--wait")
        await _wait_booted(ep, ["vm-1", "vm-2"])
        for name in ("vm-1", "vm-2"):
            run_cli(ep, "server", "console-log", name, "--tail", "3")

        say("Power operations on real guests (ACPI shutdown, reboot)")
        run_cli(ep, "server", "stop", "vm-1", "--wait")
        run_cli(ep, "server", "start", "vm-1", "--wait")
        run_cli(ep, "server", "reboot", "vm-2", "--wait")
        run_cli(ep, "server", "list")
        if keep:
            say("The cluster keeps running. In another terminal:")
            print(f"  export OVERCAST_ENDPOINT={ep}")
            print("  .venv/bin/overcast server console-log vm-1")
            print("  virsh -c qemu:///system list")
            print("Stop with Ctrl-C (servers are deleted first).")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
        say("Delete the servers: domains undefined, overlays and console logs removed")
        for name in ("vm-1", "vm-2"):
            run_cli(ep, "server", "delete", name, "--wait", check=False)
    finally:
        say("Stopping agent and controller")
        unclean = cluster.stop()
        remove_leftover_domains(host)
        shutil.rmtree(state_dir, ignore_errors=True)
        await run.release([host])
        print("stopped cleanly" if not unclean else f"not clean: {unclean}")


async def _wait_booted(endpoint: str, names: list[str]) -> None:
    """Until each guest printed its boot line (a few seconds under TCG, more on a busy host)."""
    from client import AsyncClient

    async with AsyncClient(endpoint) as api:
        for name in names:
            deadline = time.monotonic() + 120
            while "OVERCAST-BOOT" not in (await api.get_console_log(name)).text:
                if time.monotonic() > deadline:
                    print(f"{name} printed no boot line in 120 s", flush=True)
                    break
                await asyncio.sleep(0.5)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = p.parse_args()
    started = time.monotonic()
    prepare()
    asyncio.run(demo(args.keep))
    print(f"demo finished in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
