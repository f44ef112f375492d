#!/usr/bin/env bash
# Regenerates the committed stubs under src/overcast/v1 and src/overcast/agent/v1 from protos/,
# and copies every .proto (the contract, the agent protocol, the vendored google/api and
# google/rpc files) to src/overcast/protos, where the Python distribution ships them.
# Usage: scripts/gen_protos.sh [OUTDIR]   (OUTDIR defaults to src; tests pass a temp dir to detect drift)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-src}
py=${PYTHON:-.venv/bin/python}
mkdir -p "$out/overcast/v1" "$out/overcast/agent/v1"
# The vendored google/api and google/rpc protos resolve from protos/; their Python modules come
# from googleapis-common-protos at run time, so no stubs are generated for them.
"$py" -m grpc_tools.protoc -Iprotos \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  protos/overcast/v1/*.proto protos/overcast/agent/v1/*.proto
touch "$out/overcast/__init__.py" "$out/overcast/v1/__init__.py" \
  "$out/overcast/agent/__init__.py" "$out/overcast/agent/v1/__init__.py"
rm -rf "$out/overcast/protos/overcast" "$out/overcast/protos/google"
(cd protos && find overcast google -name '*.proto' -o -name 'README.md') | while read -r f; do
  mkdir -p "$out/overcast/protos/$(dirname "$f")"
  cp "protos/$f" "$out/overcast/protos/$f"
done
