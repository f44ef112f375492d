#!/usr/bin/env bash
# Regenerates the committed stubs under src/overcast/v1 from protos/overcast/v1.
# Usage: scripts/gen_protos.sh [OUTDIR]   (OUTDIR defaults to src; tests pass a temp dir to detect drift)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-src}
py=${PYTHON:-.venv/bin/python}
mkdir -p "$out/overcast/v1"
"$py" -m grpc_tools.protoc -Iprotos \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  protos/overcast/v1/*.proto
touch "$out/overcast/__init__.py" "$out/overcast/v1/__init__.py"
