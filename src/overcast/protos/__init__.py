"""The API contract as .proto files, shipped with the package for clients in any language.

`overcast/v1/*.proto` is the public API, `overcast/agent/v1/agent.proto` the agents' protocol
(internal), `google/api` and `google/rpc` the vendored Google protos they import (Apache-2.0,
see google/README.md). Copied from the repository's protos/ by scripts/gen_protos.sh.
"""

from pathlib import Path


def path() -> Path:
    """The directory to pass to protoc (-I) or to a proto loader's include path."""
    return Path(__file__).parent
