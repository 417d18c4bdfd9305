#!/usr/bin/env bash
# Issue 4's memory check: the service's resident memory with 10 models of hidden size 256 loaded, then a soak under
# wrk load (forecasts of 1, 2 and 4 sequences, mixed over all the models) sampling the server's VmRSS and GC heap
# every 10 s, and whether memory grew: the mean of the last fifth of the soak against the fifth after the warm-up
# (the first tenth), i.e. minutes 8-10 against 1-3 of a 10-minute soak. Writes soak.json, soak.md and samples.csv.
#   scripts/memory-soak.sh [--minutes 10] [--warmup-minutes 0] [--models 10] [--hidden 256] [--input 32] [--steps 50] [--connections 64]
#                          [--threads 2] [--interval 10] [--growth-limit 10] [--batching off|on]
#                          [--request-log devnull|file|off] [--service-arg ARG]... [--out DIR]
# --warmup-minutes: minutes of the same load before the soak, not sampled (the GC takes minutes to settle its
# budgets under a new load; with a warm-up the soak shows what happens after that). --minutes 1 gives a quick check.
# --growth-limit: the growth, in percent, above which the run reports memory grew (and exits 1). --batching: passes --Inference:Batching:Enabled=false|true (the service's default otherwise).
# --request-log: devnull (default: the service's request log at its shipped levels, written to /dev/null, so ten
# minutes of it fill no disk; its stderr still goes to a file), file, or off (request events filtered out).
# --out: where the results go (default artifacts/memory-soak/DATE-TIME in the repo).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
invocation="$0 $*"
minutes=10 warmup_minutes=0 models=10 hidden=256 input=32 steps=50 connections=64 threads=2 interval=10 growth_limit=10
batching='' request_log=devnull out=''
service_args=()
while (($#)); do
  case $1 in
    --minutes) minutes=${2:?--minutes needs a value}; shift 2 ;;
    --warmup-minutes) warmup_minutes=${2:?--warmup-minutes needs a value}; shift 2 ;;
    --models) models=${2:?--models needs a value}; shift 2 ;;
    --hidden) hidden=${2:?--hidden needs a value}; shift 2 ;;
    --input) input=${2:?--input needs a value}; shift 2 ;;
    --steps) steps=${2:?--steps needs a value}; shift 2 ;;
    --connections) connections=${2:?--connections needs a value}; shift 2 ;;
    --threads) threads=${2:?--threads needs a value}; shift 2 ;;
    --interval) interval=${2:?--interval needs a value}; shift 2 ;;
    --growth-limit) growth_limit=${2:?--growth-limit needs a value}; shift 2 ;;
    --batching) batching=${2:?--batching needs a value}; shift 2 ;;
    --request-log) request_log=${2:?--request-log needs a value}; shift 2 ;;
    --service-arg) service_args+=("${2:?--service-arg needs a value}"); shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in minutes models hidden input steps connections threads interval growth_limit; do
  [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "--${n//_/-} must be a positive integer" >&2; exit 2; }
done
[[ $warmup_minutes =~ ^[0-9]+$ ]] || { echo "--warmup-minutes must be a whole number" >&2; exit 2; }
[[ -z $batching || $batching =~ ^(off|on)$ ]] || { echo "--batching must be off or on" >&2; exit 2; }
[[ $request_log =~ ^(file|devnull|off)$ ]] || { echo "--request-log must be devnull, file or off" >&2; exit 2; }
out=${out:-$repo/artifacts/memory-soak/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/memory-soak.XXXXXX")
# shellcheck source=scripts/load-test/lib.sh
source "$repo/scripts/load-test/lib.sh"
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() { lt_stop_all; rm -rf "$work"; }
trap cleanup EXIT
# Name the command that stopped the script (set -e alone exits silently, e.g. when a command substitution fails).
set -E
trap 'echo "error: line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR
trap 'exit 130' INT TERM # so the EXIT trap stops the service and wrk on Ctrl-C too

lt_ensure_wrk
lt_log "building the service (Release)"
lt_build src/GruService.Api "$work/service"
lt_log "making $models models: forecast GRU, input $input, hidden $hidden, 1 layer, horizon 12"
lt_make_models "$work/models" soak "$models" "$input" "$hidden"

service_stdout=$out/service.log
url=http://127.0.0.1:$(lt_free_port)
service_command=(dotnet "$work/service/GruService.Api.dll" --urls "$url" --Storage:Root="$work/data"
  --Models:BundledDirectory= --Swagger:Enabled=false)
[[ -n $batching ]] && service_command+=("--Inference:Batching:Enabled=$([[ $batching == on ]] && echo true || echo false)")
case $request_log in
  devnull) service_stdout=/dev/null ;;
  off) service_command+=(--Serilog:MinimumLevel:Override:GruService.Api.Observability.RequestLoggingMiddleware=Warning) ;;
esac
service_command+=("${service_args[@]}")
lt_start service '' "$service_stdout" "$out/service.stderr.log" "${service_command[@]}"
pid=$lt_pid
lt_wait_ready "$url" "$pid" "$out/service.log" "$out/service.stderr.log"
sleep 2 # let start-up settle before the first reading
rss_started=$(lt_rss_kib "$pid")

names=()
for ((m = 1; m <= models; m++)); do
  lt_upload "$url" "soak-$m" "$work/models/soak-$m.safetensors"
  names+=("soak-$m")
done
for name in "${names[@]}"; do lt_check_forecast "$url" "$name" "$input" "$steps"; done
sleep 2
rss_loaded=$(lt_rss_kib "$pid")
model_bytes=$(du -cb "$work"/models/*.safetensors | tail -1 | cut -f1)
lt_log "RSS: $((rss_started / 1024)) MiB after start-up, $((rss_loaded / 1024)) MiB with $models models loaded ($((model_bytes / 1048576)) MiB of model files)"

# sample ELAPSED: one CSV row: seconds, VmRSS KiB, GC heap bytes (sum over generations at the last collection), GC
# committed bytes, gen2 collections, OS threads; the GC figures tell a managed leak from native growth, and the thread
# count tells growth that follows new thread-pool threads (each keeps its own pooled buffers) from a leak.
sample() {
  local metrics rss threads
  rss=$(lt_rss_kib "$pid") || lt_die "the service (pid $pid) is gone"
  threads=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")
  metrics=$(curl -fsS --max-time 5 "$url/metrics" 2>/dev/null || true)
  awk -v t="$1" -v rss="$rss" -v threads="$threads" '
    /^dotnet_gc_last_collection_heap_size_bytes\{/ { heap += $2 }
    /^dotnet_gc_last_collection_memory_committed_size_bytes / { committed = $2 }
    /^dotnet_gc_collections_total\{gc_heap_generation="gen2"\}/ { gen2 = $2 }
    END { printf "%d,%d,%.0f,%.0f,%d,%d\n", t, rss, heap, committed, gen2, threads }' <<<"$metrics"
}

wrk_command=(wrk "-t$threads" "-c$connections" "-d${minutes}m" --timeout 10s --latency
  -s "$repo/scripts/load-test/forecast.lua" "$url" -- "models=$(IFS=,; echo "${names[*]}")" "steps=$steps"
  "input=$input" mix=1)
rss_warmed=$rss_loaded
if ((warmup_minutes > 0)); then
  lt_log "warming up: the same load for $warmup_minutes min, not sampled"
  "${wrk_command[@]/#-d${minutes}m/-d${warmup_minutes}m}" >"$out/wrk-warmup.txt" 2>&1 ||
    { cat "$out/wrk-warmup.txt" >&2; lt_die "wrk failed during the warm-up (output above)"; }
  rss_warmed=$(lt_rss_kib "$pid")
  lt_log "RSS after the warm-up: $((rss_warmed / 1024)) MiB"
fi
load_before=$(lt_load_average)
lt_log "soaking for $minutes min, sampling every $interval s (load average $load_before)"
echo "seconds,rss_kib,gc_heap_bytes,gc_committed_bytes,gen2_collections,threads" >"$out/samples.csv"
start=$(date +%s)
sample 0 >>"$out/samples.csv"
"${wrk_command[@]}" >"$out/wrk.txt" 2>&1 &
wrk_pid=$!
started_pids+=("$wrk_pid")
next=$interval
while kill -0 "$wrk_pid" 2>/dev/null; do
  now=$(($(date +%s) - start))
  if ((now >= next)); then
    sample "$now" | tee -a "$out/samples.csv" | awk -F, '{ printf "  %4d s  RSS %6.1f MiB  GC heap %6.1f MiB  %3d threads\n", $1, $2 / 1024, $3 / 1048576, $6 }' >&2
    next=$((next + interval))
  fi
  sleep 1
done
wait "$wrk_pid" || { cat "$out/wrk.txt" >&2; lt_die "wrk failed (output above)"; }
load_after=$(lt_load_average)
sample "$(($(date +%s) - start))" >>"$out/samples.csv"
hwm=$(lt_hwm_kib "$pid")
lt_stop "$pid"

# The summary exits 1 when memory grew beyond --growth-limit; so does this script, without the ERR trap's message.
status=0
python3 "$repo/scripts/load-test/summarize_soak.py" "$out" "$(python3 -c 'import json,sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' \
  command "$invocation" minutes "$minutes" warmup_minutes "$warmup_minutes" rss_warmed_kib "$rss_warmed" models "$models" hidden "$hidden" input "$input" steps "$steps" \
  connections "$connections" threads "$threads" interval "$interval" growth_limit "$growth_limit" \
  batching "${batching:-default}" request_log "$request_log" rss_started_kib "$rss_started" \
  rss_loaded_kib "$rss_loaded" rss_peak_kib "$hwm" model_file_bytes "$model_bytes" load_before "$load_before" \
  load_after "$load_after" wrk_command "${wrk_command[*]}" service_command "${service_command[*]}" \
  wrk_result "$(lt_result_line "$out/wrk.txt")")" "$(lt_environment_json)" || status=$?
lt_log "results in $out"
exit "$status"
