#!/usr/bin/env bash
# The README's main job on exactly what ./demo installs (onceonly without the test tools,
# which would otherwise hide a missing dependency): prepare a small demo, then consolidate
# the merged city's legacy registers into it, household and land.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bootstrap.sh
bootstrap_venv "" .venv-base
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
onceonly=".venv-base/bin/onceonly"
"$onceonly" demo --no-serve --people 200 --data-dir "$work/data" >"$work/demo.log"
export ONCEONLY_DATA_DIR="$work/data"
"$onceonly" consolidate demo-data "$work/legacy" --records 400 \
  --registries "$work/data/registries" >"$work/legacy.log"
"$onceonly" consolidate run "$work/legacy/plan.yaml" >"$work/run.log" 2>&1 || {
  cat "$work/run.log"
  exit 1
}
test -s "$work/legacy/run-land/load.json"
echo "demo and consolidation ran on the base install: $(tail -n 2 "$work/run.log" | head -n 1)"
