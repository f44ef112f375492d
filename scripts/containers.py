"""The compose stack with podman on a machine that reaches no container registry.

    python scripts/containers.py build    # base images from Debian packages, then the Dockerfile
    python scripts/containers.py up       # docker-compose.yml, with the local override, started
    python scripts/containers.py down     # stopped, containers and volumes removed

docker-compose.yml stays what users run (its `image:` names are the ones they pull). This
script derives a local override from it: images built here (mmdebstrap + `podman import` for
the bases, PostgreSQL and RabbitMQ from Debian's packages), host networking (podman 4.3 here has
no working container network), and ports of their own so that the stack never meets the
machine's own PostgreSQL (5432) and RabbitMQ (5672). podman runs with the runc runtime and no
default ulimits (crun fails on these hybrid cgroups; the default RLIMIT_NOFILE is refused):
see CONTAINERS_CONF below.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("OVERCAST_CONTAINERS_DIR", "/var/tmp/overcast-containers"))
PROJECT = "overcast-local"

BASE_IMAGE = "localhost/overcast-debian:bookworm"
SERVICES_IMAGE = "localhost/overcast-services:bookworm"
APP_IMAGE = "localhost/overcast:local"
# Debian packages of each base image (bookworm, as the official python:3.11-slim-bookworm).
BASE_PACKAGES = ["python3", "python3-venv", "ca-certificates", "libvirt0"]
SERVICES_PACKAGES = ["postgresql-15", "rabbitmq-server", "ca-certificates"]

PG_PORT, AMQP_PORT, AMQP_DIST_PORT, API_PORT = 25432, 35672, 35673, 50071
PG_BIN = "/usr/lib/postgresql/15/bin"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # this machine's, which its proxies need


def say(text: str) -> None:
    print(f"containers: {text}", file=sys.stderr, flush=True)


def env() -> dict[str, str]:
    WORK.mkdir(parents=True, exist_ok=True)
    conf = WORK / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n')
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def run(*cmd: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env(), check=check, text=True, capture_output=capture)


def install_tools() -> None:
    """podman, runc and mmdebstrap from Debian's packages, when missing (podman-compose comes
    from PyPI with the dev extra: Debian's 1.0.3 adds a bridge network to network_mode host)."""
    missing = [t for t in ("podman", "runc", "mmdebstrap") if not shutil.which(t)]
    if not missing:
        return
    say(f"installing {' '.join(missing)}")
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=apt_env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, "uidmap"],
        check=True,
        env=apt_env,
        stdout=subprocess.DEVNULL,
    )


def image_exists(name: str) -> bool:
    return run("podman", "image", "exists", name, check=False).returncode == 0


def debian_image(name: str, packages: list[str]) -> None:
    """A bookworm image of `packages`, made by mmdebstrap and imported (kept once built)."""
    if image_exists(name):
        return
    say(f"building {name} from Debian packages: {' '.join(packages)}")
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        tar = Path(tmp) / "rootfs.tar"
        subprocess.run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=apt",
                f"--include={','.join(packages)}",
                "bookworm",
                str(tar),
            ],
            check=True,
        )
        run("podman", "import", "--quiet", str(tar), name, capture=True)


def build() -> None:
    install_tools()
    debian_image(BASE_IMAGE, BASE_PACKAGES)
    debian_image(SERVICES_IMAGE, SERVICES_PACKAGES)
    say(f"building {APP_IMAGE} from the Dockerfile")
    run(
        "podman", "build", "--quiet", "--network", "host",
        "--build-arg", f"BASE={BASE_IMAGE}",
        "--build-arg", "PIP_CERT=/run/overcast-ca.pem",
        "--volume", f"{CA_BUNDLE}:/run/overcast-ca.pem:ro",
        "--tag", APP_IMAGE, str(REPO),
    )  # fmt: skip


def local_compose(api_port: int = API_PORT) -> dict[str, Any]:
    """docker-compose.yml with this machine's override applied."""
    spec: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = spec["services"]
    api = f"127.0.0.1:{api_port}"
    amqp = f"amqp://guest:guest@127.0.0.1:{AMQP_PORT}/"
    for svc in services.values():
        svc["network_mode"] = "host"
        svc.pop("ports", None)
        svc.pop("build", None)
    pgdata = "/var/lib/postgresql/data"
    services["postgres"].update(
        image=SERVICES_IMAGE,
        environment={"PGDATA": pgdata},
        command=[
            "sh", "-c",
            f"chown -R postgres {pgdata} && exec runuser -u postgres -- sh -c '"
            f"[ -s {pgdata}/PG_VERSION ] || {PG_BIN}/initdb -D {pgdata} -A trust -U postgres; "
            f"exec {PG_BIN}/postgres -D {pgdata} -p {PG_PORT} -c listen_addresses=127.0.0.1 "
            "-c unix_socket_directories=/tmp'",
        ],
        healthcheck={**services["postgres"]["healthcheck"], "test": [
            "CMD", f"{PG_BIN}/pg_isready", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres"
        ]},
    )  # fmt: skip
    services["rabbitmq"].update(
        image=SERVICES_IMAGE,
        environment={
            "RABBITMQ_NODENAME": f"{PROJECT}@localhost",  # beside the machine's own node
            "RABBITMQ_NODE_PORT": str(AMQP_PORT),
            "RABBITMQ_DIST_PORT": str(AMQP_DIST_PORT),
            "HOME": "/var/lib/rabbitmq",
        },
        command=["sh", "-c", "chown -R rabbitmq /var/lib/rabbitmq && exec rabbitmq-server"],
        healthcheck={**services["rabbitmq"]["healthcheck"], "test": [
            "CMD-SHELL",
            f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {AMQP_PORT}), 1)\"",
        ]},
    )  # fmt: skip
    controller = services["controller"]
    controller.update(image=APP_IMAGE, command=f"python -m controller --listen {api}")
    controller["environment"] = {
        "OVERCAST_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{PG_PORT}/overcast",
        "OVERCAST_AMQP_URL": amqp,
    }
    controller["healthcheck"]["test"] = ["CMD", "overcast", "--endpoint", api, "health"]
    for name, svc in services.items():
        if name.startswith("agent-"):
            host = svc["environment"]["OVERCAST_HOST_ID"]
            svc.update(image=APP_IMAGE)
            svc["environment"] = {
                "OVERCAST_HOST_ID": host,
                "OVERCAST_CONTROLLER": api,
                "OVERCAST_AMQP_URL": amqp,
            }
            up = f"overcast --endpoint {api} -o yaml host show {host} | grep -q 'state: HOST_STATE_UP'"
            svc["healthcheck"]["test"] = ["CMD-SHELL", up]
    return spec


def compose_file(api_port: int = API_PORT) -> Path:
    path = WORK / "docker-compose.local.yml"
    path.write_text(yaml.safe_dump(local_compose(api_port), sort_keys=False))
    return path


def compose(*args: str, api_port: int = API_PORT) -> None:
    podman_compose = str(Path(sys.executable).with_name("podman-compose"))
    run(podman_compose, "--project-name", PROJECT, "-f", str(compose_file(api_port)), *args)


def healthy(container: str) -> bool:
    """Runs the container's own healthcheck (podman runs them only under systemd)."""
    return run("podman", "healthcheck", "run", container, check=False, capture=True).returncode == 0


def levels(spec: dict[str, Any]) -> list[list[str]]:
    """The services in start order: each level depends only on the levels before it."""
    services = spec["services"]
    deps = {name: set(svc.get("depends_on") or ()) for name, svc in services.items()}
    done: set[str] = set()
    order: list[list[str]] = []
    while len(done) < len(deps):
        level = sorted(n for n, d in deps.items() if n not in done and d <= done)
        if not level:
            raise ValueError(f"depends_on has a cycle among {sorted(set(deps) - done)}")
        order.append(level)
        done.update(level)
    return order


def wait_healthy(services: list[str], deadline: float) -> None:
    """Until each of `services` passes its own healthcheck."""
    for svc in services:
        container = f"{PROJECT}_{svc}_1"
        while not healthy(container):
            if time.monotonic() > deadline:
                logs = run("podman", "logs", "--tail", "30", container, check=False, capture=True)
                tail = logs.stdout + logs.stderr
                raise TimeoutError(f"{container} not healthy in time:\n{tail}")
            time.sleep(1)
        say(f"{svc} healthy")


def up(api_port: int = API_PORT, timeout_s: float = 300.0) -> None:
    """Start the stack level by level, each once what it depends on is healthy, as docker
    compose does for `condition: service_healthy` (podman-compose starts them all at once)."""
    deadline = time.monotonic() + timeout_s
    for level in levels(local_compose(api_port)):
        compose("up", "-d", "--no-deps", *level, api_port=api_port)
        wait_healthy(level, deadline)


def down() -> None:
    compose("down", "-v")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("build", "up", "down"))
    action = p.parse_args().action
    {"build": build, "up": up, "down": down}[action]()


if __name__ == "__main__":
    main()
