#!/usr/bin/env bash
# Issue 4's throughput and latency test: single-sequence forecasts (50 steps of 8 features) on a 1-layer
# unidirectional GRU of hidden size 64, at 64 connections, with the service and wrk sharing this machine; the service
# with dynamic batching off, then on, then a bare minimal-API app that only parses the same body (the baseline,
# tests/GruService.ParseBaseline), then the same app reading the body without parsing it (the HTTP floor), each
# measured in the same run. Prints a table and writes results.json and
# results.md (see docs/load-test.md).
#   scripts/load-test.sh [--duration 20s] [--warmup 10] [--warmup-max 60] [--connections 64] [--threads 2] [--modes off,on,baseline,floor]
#                        [--steps 50] [--input 8] [--hidden 64] [--request-log file|devnull|off]
#                        [--server-cpus LIST] [--wrk-cpus LIST] [--service-arg ARG]... [--out DIR]
# --warmup, --warmup-max: seconds of load before measuring, in 5-second wrk windows, at least --warmup and then until
#   three windows in a row agree within 10% (JIT tiering and PGO take a while, much longer on a busy machine), at most
#   --warmup-max.
# --modes: off and on are the service with --Inference:Batching:Enabled=false|true; baseline is the parse-only app;
#   floor is that app with --ParseBody=false.
# --request-log: file (default: the service's JSON request log, at its shipped levels, to a file in the output
#   directory, as a container's stdout would be), devnull (the same logging, written to /dev/null), off (request
#   events filtered out by a Serilog level override; other events still go to the file).
# --server-cpus/--wrk-cpus: taskset CPU lists (e.g. 0 and 1) for the server under test and for wrk; unpinned by default.
# --service-arg: one more configuration argument for the service (repeatable), e.g.
#   --service-arg --Inference:Batching:MaxBatchSize=32
# Environment variables (DOTNET_gcServer=0, DOTNET_TieredPGO=0, ...) reach both the service and the baseline.
# --out: where the results go (default artifacts/load-test/DATE-TIME in the repo).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
invocation="$0 $*"
duration=20s warmup=10 warmup_max=60 connections=64 threads=2 modes=off,on,baseline,floor steps=50 input=8 hidden=64
request_log=file server_cpus='' wrk_cpus='' out=''
service_args=()
while (($#)); do
  case $1 in
    --duration) duration=${2:?--duration needs a value}; shift 2 ;;
    --warmup) warmup=${2:?--warmup needs a value}; shift 2 ;;
    --warmup-max) warmup_max=${2:?--warmup-max needs a value}; shift 2 ;;
    --connections) connections=${2:?--connections needs a value}; shift 2 ;;
    --threads) threads=${2:?--threads needs a value}; shift 2 ;;
    --modes) modes=${2:?--modes needs a value}; shift 2 ;;
    --steps) steps=${2:?--steps needs a value}; shift 2 ;;
    --input) input=${2:?--input needs a value}; shift 2 ;;
    --hidden) hidden=${2:?--hidden needs a value}; shift 2 ;;
    --request-log) request_log=${2:?--request-log needs a value}; shift 2 ;;
    --server-cpus) server_cpus=${2:?--server-cpus needs a value}; shift 2 ;;
    --wrk-cpus) wrk_cpus=${2:?--wrk-cpus needs a value}; shift 2 ;;
    --service-arg) service_args+=("${2:?--service-arg needs a value}"); shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in warmup warmup_max connections threads steps input hidden; do
  [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "--${n//_/-} must be a positive integer" >&2; exit 2; }
done
[[ $request_log =~ ^(file|devnull|off)$ ]] || { echo "--request-log must be file, devnull or off" >&2; exit 2; }
IFS=, read -r -a mode_list <<<"$modes"
for mode in "${mode_list[@]}"; do
  [[ $mode =~ ^(off|on|baseline|floor)$ ]] || { echo "--modes takes off, on, baseline and floor, not '$mode'" >&2; exit 2; }
done
out=${out:-$repo/artifacts/load-test/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/load-test.XXXXXX")
# shellcheck source=scripts/load-test/lib.sh
source "$repo/scripts/load-test/lib.sh"
cleanup() { lt_stop_all; rm -rf "$work"; }
trap cleanup EXIT
# Name the command that stopped the script (set -e alone exits silently, e.g. when a command substitution fails).
set -E
trap 'echo "error: line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR
trap 'exit 130' INT TERM # so the EXIT trap stops the servers on Ctrl-C too

lt_ensure_wrk
lt_log "building the service and the parse baseline (Release)"
lt_build src/GruService.Api "$work/service"
lt_build tests/GruService.ParseBaseline "$work/baseline"
lt_log "making the model: forecast GRU, input $input, hidden $hidden, 1 layer, horizon 12"
lt_make_models "$work/models" load-test 1 "$input" "$hidden"
model_file=$work/models/load-test-1.safetensors model=load-test

# The service's request log: one JSON event per request from GruService.Api.Observability.RequestLoggingMiddleware,
# at Information (appsettings.json: Serilog:MinimumLevel:Default=Information, console sink).
logging_args=() service_stdout=''
case $request_log in
  file) logging_args=() ;;
  devnull) service_stdout=/dev/null ;;
  off) logging_args=(--Serilog:MinimumLevel:Override:GruService.Api.Observability.RequestLoggingMiddleware=Warning) ;;
esac
wrk_script=$repo/scripts/load-test/forecast.lua
wrk_script_args=(-- "models=$model" "steps=$steps" "input=$input")

# run_wrk SECONDS_SPEC URL OUTPUT: one wrk run against URL, under taskset when --wrk-cpus is set.
run_wrk() {
  local command=(wrk "-t$threads" "-c$connections" "-d$1" --latency -s "$wrk_script" "$2" "${wrk_script_args[@]}")
  [[ -n $wrk_cpus ]] && command=(taskset -c "$wrk_cpus" "${command[@]}")
  echo "${command[*]}" >"$3.command"
  # Through a wrapper that adds wrk's own CPU time to its output: on a shared machine the generator's share of the
  # cores is part of the story.
  python3 -c 'import resource, subprocess, sys
code = subprocess.call(sys.argv[1:])
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print("LOADGEN_CPU_SECONDS %.3f" % (usage.ru_utime + usage.ru_stime))
sys.exit(code)' "${command[@]}" >"$3" 2>&1 || { cat "$3" >&2; lt_die "wrk failed (output above)"; }
}

# warm_up MODE URL: 5-second wrk windows until the server is warm (see --warmup); sets warmup_rates.
warm_up() {
  local mode=$1 url=$2 elapsed=0 rate previous='' steady=0
  warmup_rates=()
  while :; do
    run_wrk 5s "$url" "$work/warmup-$mode.txt"
    rate=$(lt_result_line "$work/warmup-$mode.txt" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["requests_per_second"]))')
    warmup_rates+=("$rate")
    elapsed=$((elapsed + 5))
    if [[ -n $previous ]] && ((previous > 0)) && ((10 * (rate > previous ? rate - previous : previous - rate) <= previous)); then
      steady=$((steady + 1))
    else
      steady=0
    fi
    # Two agreeing pairs, not one: a server still in tier-0 code can give two equally slow windows.
    ((elapsed >= warmup && steady >= 2)) && break
    if ((elapsed >= warmup_max)); then
      lt_log "$mode: still not steady after ${elapsed}s of warm-up (req/s per window: ${warmup_rates[*]}); measuring anyway"
      break
    fi
    previous=$rate
  done
  lt_log "$mode: warmed up for ${elapsed}s (req/s per 5-second window: ${warmup_rates[*]})"
}

# measure MODE: starts the server for MODE, checks it answers, warms it up, measures, records, stops it.
measure() {
  local mode=$1 port url pid server_command
  port=$(lt_free_port)
  url=http://127.0.0.1:$port
  if [[ $mode == baseline || $mode == floor ]]; then
    server_command=(dotnet "$work/baseline/GruService.ParseBaseline.dll" --urls "$url")
    [[ $mode == floor ]] && server_command+=(--ParseBody=false)
    lt_start "$mode" "$server_cpus" "$out/$mode.log" "$out/$mode.stderr.log" "${server_command[@]}"
  else
    local enabled=false
    [[ $mode == on ]] && enabled=true
    server_command=(dotnet "$work/service/GruService.Api.dll" --urls "$url" --Storage:Root="$work/data-$mode"
      --Models:BundledDirectory= --Swagger:Enabled=false "--Inference:Batching:Enabled=$enabled"
      "${logging_args[@]}" "${service_args[@]}")
    # The full log stays in the temporary directory (at 15,000 req/s it grows by ~11 MB/s, 750 bytes an event); its lines other than
    # per-request events are copied to the results when the run ends.
    lt_start "service, batching $mode" "$server_cpus" "${service_stdout:-$work/service-$mode.log}" \
      "$out/service-$mode.stderr.log" "${server_command[@]}"
  fi
  pid=$lt_pid
  lt_wait_ready "$url" "$pid" "$work/service-$mode.log" "$out/service-$mode.stderr.log" "$out/$mode.log" \
    "$out/$mode.stderr.log"
  if [[ $mode == off || $mode == on ]]; then lt_upload "$url" "$model" "$model_file"; fi
  lt_check_forecast "$url" "$model" "$input" "$steps"

  warm_up "$mode" "$url"
  local load_before load_after rss cpu_before cpu_after inference_before inference_after
  load_before=$(lt_load_average)
  cpu_before=$(lt_cpu_seconds "$pid")
  inference_before=$(lt_inference_totals "$url")
  lt_log "$mode: measuring for $duration (load average $load_before)"
  run_wrk "$duration" "$url" "$out/wrk-$mode.txt"
  load_after=$(lt_load_average)
  cpu_after=$(lt_cpu_seconds "$pid")
  inference_after=$(lt_inference_totals "$url")
  rss=$(lt_rss_kib "$pid")
  lt_stop "$pid"
  if [[ -f $work/service-$mode.log ]]; then
    grep -v '"SourceContext":"GruService.Api.Observability.RequestLoggingMiddleware"' "$work/service-$mode.log" \
      >"$out/service-$mode.log" || true
    rm -f "$work/service-$mode.log"
  fi

  python3 - "$out/run-$mode.json" "$mode" "$load_before" "$load_after" "$rss" "$(lt_result_line "$out/wrk-$mode.txt")" \
    "$(cat "$out/wrk-$mode.txt.command")" "${server_command[*]}" "$cpu_before" "$cpu_after" "$inference_before" \
    "$inference_after" "$(awk '/^LOADGEN_CPU_SECONDS / { print $2 }' "$out/wrk-$mode.txt")" "${warmup_rates[*]}" <<'PY'
import json, sys
(path, mode, before, after, rss, result, wrk_command, server_command, cpu_before, cpu_after, inference_before,
 inference_after, wrk_cpu, warmup_rates) = sys.argv[1:]
result = json.loads(result)
requests = max(result["requests"], 1)
(sum0, n0), (sum1, n1) = inference_before.split(), inference_after.split()
inferences = int(n1) - int(n0)
json.dump({"mode": mode, "warmup_requests_per_second": [int(r) for r in warmup_rates.split()],
           "load_average_before": before, "load_average_after": after, "server_rss_kib_after": int(rss),
           # Server CPU per answered request (both cores count), and the engine's share from the service's own metric;
           # the scrape of /metrics after the run adds a request's worth, which is noise at these counts.
           "server_cpu_us_per_request": round((float(cpu_after) - float(cpu_before)) * 1e6 / requests, 1),
           "wrk_cpu_us_per_request": round(float(wrk_cpu) * 1e6 / requests, 1),
           "inference_us_per_request": round((float(sum1) - float(sum0)) * 1e6 / inferences, 1) if inferences > 0 else None,
           "wrk_command": wrk_command, "server_command": server_command, "result": result},
          open(path, "w"), indent=2)
PY
  lt_log "$mode: $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["result"]; l=r["latency_us"]; print("%.0f req/s, p50 %.2f ms, p99 %.2f ms" % (r["requests_per_second"], l["p50"]/1000, l["p99"]/1000))' "$out/run-$mode.json")"
}

settings=$(python3 -c 'import json,sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' \
  duration "$duration" warmup "$warmup" warmup_max "$warmup_max" connections "$connections" threads "$threads" modes "$modes" steps "$steps" \
  input "$input" hidden "$hidden" request_log "$request_log" server_cpus "$server_cpus" wrk_cpus "$wrk_cpus" \
  service_args "${service_args[*]}" command "$invocation")
lt_environment_json >"$work/environment.json"
for mode in "${mode_list[@]}"; do measure "$mode"; done
python3 "$repo/scripts/load-test/summarize.py" "$out" "$settings" "$work/environment.json"
lt_log "results in $out"
