#!/usr/bin/env bash
# ETTh1, lookback 96, horizon 96, all 7 features, through the HTTP API as a user would: upload the training and
# validation rows (0-11519) as a CSV dataset, train with the last quarter (rows 8640-11519, the standard validation
# months) held out, then send every standard test window (targets in rows 11520-14399) to the forecast endpoint and
# report MSE and MAE on values standardised with the training rows' statistics. Not part of the test suite.
#   scripts/benchmark-etth1.sh [--url URL]
# With --url, put a key with scope manage in the environment: API_KEY=... scripts/benchmark-etth1.sh --url URL
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib-service.sh
source scripts/lib-service.sh

url=""
[[ ${1:-} == --url ]] && url=$2

work=$(mktemp -d)
service_pid=""
cleanup() { [[ -n $service_pid ]] && kill "$service_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cli() { dotnet run -c Release --project src/GruService.Cli --no-launch-profile -- "$@"; }

if [[ -z $url ]]; then start_service; fi

start=$(date +%s)
head -n 11521 models/data/ETTh1.csv > "$work/etth1-train-validation.csv"
dataset=$(api_curl -sf -X POST -H 'Content-Type: text/csv' --data-binary @"$work/etth1-train-validation.csv" "$url/v1/datasets?name=etth1" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
# The configuration of `gruservice benchmark-etth1`: one univariate GRU shared by the 7 columns, reading segments of
# 24 hours, with each window's last value subtracted and added back (docs/model-format.md, Extensions).
request=$(cat <<JSON
{"model": "etth1", "task": "forecast", "dataset": "$dataset", "validation_split": 0.25, "window": 96, "horizon": 96,
 "architecture": {"hidden_size": 128, "channel_independent": true, "segment_length": 24},
 "hyperparameters": {"epochs": 30, "batch_size": 256, "learning_rate": 0.002, "schedule": "cosine", "patience": 5, "seed": 1,
                     "loss": "mae", "window_normalization": "last", "season_length": 24}}
JSON
)
job=$(api_curl -sf -X POST -H 'Content-Type: application/json' -d "$request" "$url/v1/training-jobs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "dataset $dataset, job $job"
while true; do
  sleep 5
  state=$(api_curl -sf "$url/v1/training-jobs/$job")
  status=$(json_field "$state" status)
  python3 -c 'import json,sys; j=json.loads(sys.argv[1]); p=j.get("progress") or {}; print("  %s epoch %s/%s train loss %s validation loss %s elapsed %s s" % (j["status"], p.get("epoch"), p.get("epochs"), p.get("train_loss"), p.get("validation_loss"), p.get("elapsed_seconds")))' "$state"
  [[ $status == queued || $status == running ]] || break
done
echo "job ended after $(( $(date +%s) - start )) s wall (upload + training)"
python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(json.dumps({"status": j["status"], "result": j.get("result"), "error": j.get("error")}, indent=1)[:2000])' "$state"
[[ $status == succeeded ]] || exit 1
cli score-etth1 --url "$url" --model etth1 --api-key "$api_key"
