#!/usr/bin/env bash
# The main job, locally: start the emulator, bring the pipeline up, push one order through it and
# show the outcome. Needs only cargo and python3 (the emulator is installed into its own venv).
set -euo pipefail
cd "$(dirname "$0")/.."

port="${ORDERFLOW_LOCAL_PORT:-4566}"
export ORDERFLOW_LOCAL_PORT="$port"

echo "==> building orderflow"
cargo build --quiet --bin orderflow
of=target/debug/orderflow

echo "==> starting the local emulator (MiniStack) on 127.0.0.1:$port"
"$of" local start

echo "==> orderflow --local up --yes"
"$of" --local up --yes

echo "==> orderflow --local send-order --wait"
"$of" --local send-order --wait

echo
echo "Done. Try: $of --local plan    |  $of --local down --yes    |  $of local stop"
