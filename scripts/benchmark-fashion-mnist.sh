#!/usr/bin/env bash
# Fashion-MNIST read as sequences (28 steps of 28 pixels), trained and scored through the HTTP API as a user would:
# upload the 60,000 training images as an NDJSON dataset, start a training job, watch it, then classify the 10,000
# test images through the served model. Prints the job's progress, its training time and GFLOP/s, and the test
# accuracy. Not part of the test suite (it takes minutes).
#   scripts/benchmark-fashion-mnist.sh [--url URL] [--hidden 128] [--epochs 10]
# With --url, put a key with scope manage in the environment: API_KEY=... scripts/benchmark-fashion-mnist.sh --url URL
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib-service.sh
source scripts/lib-service.sh

url="" hidden=128 epochs=10
while [[ $# -gt 0 ]]; do
  case $1 in
    --url) url=$2; shift 2 ;;
    --hidden) hidden=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

if [[ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

work=$(mktemp -d)
service_pid=""
cleanup() { [[ -n $service_pid ]] && kill "$service_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cli() { dotnet run -c Release --project src/GruService.Cli --no-launch-profile -- "$@"; }
cli fashion-mnist-ndjson --part train --out "$work/train.ndjson"

if [[ -z $url ]]; then start_service; fi

start=$(date +%s)
dataset=$(api_curl -sf -X POST -H 'Content-Type: application/x-ndjson' --data-binary @"$work/train.ndjson" "$url/v1/datasets?name=fashion-mnist-train" \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["id"])')
echo "uploaded dataset $dataset in $(( $(date +%s) - start )) s"

request=$(cat <<JSON
{"model": "fashion-mnist-benchmark", "task": "classify", "dataset": "$dataset", "validation_split": 0.1,
 "architecture": {"hidden_size": $hidden},
 "hyperparameters": {"epochs": $epochs, "batch_size": 64, "learning_rate": 0.002, "schedule": "cosine", "patience": 3, "seed": 1}}
JSON
)
job=$(api_curl -sf -X POST -H 'Content-Type: application/json' -d "$request" "$url/v1/training-jobs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "started job $job"
while true; do
  sleep 10
  state=$(api_curl -sf "$url/v1/training-jobs/$job")
  status=$(json_field "$state" status)
  python3 -c 'import json,sys; j=json.loads(sys.argv[1]); p=j.get("progress") or {}; print("  %s epoch %s/%s batch %s/%s train loss %s validation accuracy %s elapsed %s s, left %s s" % (j["status"], p.get("epoch"), p.get("epochs"), p.get("batch"), p.get("batches"), p.get("train_loss"), p.get("validation_metric"), p.get("elapsed_seconds"), p.get("remaining_seconds")))' "$state"
  [[ $status == queued || $status == running ]] || break
done
echo "job ended after $(( $(date +%s) - start )) s wall (upload + training)"
python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(json.dumps({"status": j["status"], "result": j.get("result"), "error": j.get("error")}, indent=1)[:3000])' "$state"
[[ $status == succeeded ]] || exit 1
cli score-fashion-mnist --url "$url" --model fashion-mnist-benchmark --api-key "$api_key"
