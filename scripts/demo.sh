#!/usr/bin/env bash
# The main job, locally: start the emulator, bring the pipeline up, submit one order through the
# HTTP API as a customer would and show its status timeline and the email the customer got. Needs only cargo and python3 (the emulator is installed into its own venv).
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

echo "==> orderflow --local send-order --via api --wait   (POST /orders, then GET /orders/{id})"
order_id="ord-demo-$(date +%s)"
"$of" --local send-order --via api --wait --order-id "$order_id" --customer-email "$order_id@example.com"

echo "==> orderflow --local order $order_id   (its status timeline)"
"$of" --local order "$order_id"

echo "==> orderflow local mail --to $order_id@example.com   (the email notify-customer sent)"
"$of" local mail --to "$order_id@example.com" --wait 30

echo
echo "Done. Try: $of --local plan    |  $of --local send-order --via bus --invalid --wait"
echo "           $of --local down --yes    |  $of local stop"
