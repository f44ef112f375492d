"""Write a libvirt test-driver node file.

python -m devcluster.testhost PATH --cpus 32 --memory-gib 64
"""

from __future__ import annotations

import argparse
import sys

from agent.hypervisor.testdriver import uri_for, write_node_file


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m devcluster.testhost",
        description="Write a libvirt test driver node file for one simulated hypervisor host.",
    )
    parser.add_argument("path", help="where to write the node XML")
    parser.add_argument("--cpus", type=_positive, default=32)
    parser.add_argument("--memory-gib", type=_positive, default=64)
    parser.add_argument("--mhz", type=_positive, default=2400)
    parser.add_argument("--model", default="x86_64", help="reported as the host arch")
    args = parser.parse_args(argv)
    path = write_node_file(
        args.path, cpus=args.cpus, memory_gib=args.memory_gib, mhz=args.mhz, model=args.model
    )
    # The URI is the one thing a caller needs next (e.g. --libvirt-uri for the agent).
    sys.stdout.write(uri_for(path) + "\n")


if __name__ == "__main__":
    main()
