# shellcheck shell=bash
# Shared by scripts/load-test.sh and scripts/memory-soak.sh (source it after setting repo and work).
# repo, work (in) are the sourcing script's variables; started_pids (out) is read by lt_stop_all in its EXIT trap.
# shellcheck disable=SC2154

started_pids=()

lt_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
lt_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# wrk comes from Debian (package wrk); installed here when missing, as scripts/install-test-deps.sh does promtool.
lt_ensure_wrk() {
  command -v wrk >/dev/null 2>&1 && return 0
  local sudo=''
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || lt_die "wrk is missing and installing it needs root: apt-get install wrk"
    sudo=sudo
  fi
  lt_log "installing wrk (apt package wrk)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null
  command -v wrk >/dev/null 2>&1 || lt_die "apt-get installed no wrk"
}

lt_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# lt_build PROJECT OUTPUT_DIR: a Release build of one project into its own directory (log in $work/build.log).
lt_build() {
  dotnet build "$repo/$1" -c Release -o "$2" --nologo >>"$work/build.log" 2>&1 ||
    { tail -n 40 "$work/build.log" >&2; lt_die "building $1 failed (log above)"; }
}

# lt_make_models OUT_DIR PREFIX COUNT INPUT HIDDEN: random-weight 1-layer unidirectional forecast models (horizon 12,
# one output), written by the engine's own model-file writer; prints nothing.
lt_make_models() {
  dotnet run --file "$repo/scripts/load-test/make-models.cs" -- --out "$1" --prefix "$2" --count "$3" \
    --input "$4" --hidden "$5" --layers 1 --horizon 12 --output 1 >>"$work/build.log" 2>&1 ||
    { tail -n 40 "$work/build.log" >&2; lt_die "making the models failed (log above)"; }
}

# lt_start NAME CPUS STDOUT STDERR COMMAND...: starts COMMAND in the background (under taskset when CPUS is set), its
# output to the given files; sets lt_pid. The dotnet host runs the app in its own process, so lt_pid is the server.
lt_start() {
  local name=$1 cpus=$2 out=$3 err=$4
  shift 4
  if [[ -n $cpus ]]; then
    taskset -c "$cpus" "$@" >"$out" 2>"$err" &
  else
    "$@" >"$out" 2>"$err" &
  fi
  lt_pid=$!
  started_pids+=("$lt_pid")
  lt_log "started $name (pid $lt_pid${cpus:+, cpus $cpus})"
}

# lt_wait_ready URL PID LOG...: waits up to 60 s for URL/readyz to answer 200; on failure shows the logs and exits.
lt_wait_ready() {
  local url=$1 pid=$2 i
  shift 2
  for ((i = 0; i < 240; i++)); do
    curl -fsS -o /dev/null "$url/readyz" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  local log
  for log in "$@"; do [[ -s $log ]] && { echo "--- $log" >&2; tail -n 30 "$log" >&2; }; done
  lt_die "$url did not become ready (pid $pid $(kill -0 "$pid" 2>/dev/null && echo 'still running' || echo exited))"
}

# lt_stop PID: SIGTERM (ASP.NET Core shuts down gracefully), then SIGKILL after 10 s.
lt_stop() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 40; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

lt_stop_all() {
  local pid
  for pid in "${started_pids[@]}"; do lt_stop "$pid"; done
  started_pids=()
}

# The API key the scripts' services are started with (uploads need scope manage): fresh for each run, kept in an
# environment variable rather than on a command line where ps would show it.
lt_api_key=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export Security__ApiKeys__loadtest__Key=$lt_api_key Security__ApiKeys__loadtest__Scopes__0=manage

# lt_upload URL NAME FILE: PUT /v1/models/NAME with the file as the raw body.
lt_upload() {
  local status
  status=$(curl -sS -o "$work/upload.json" -w '%{http_code}' -X PUT --data-binary "@$3" -H "X-Api-Key: $lt_api_key" \
    -H 'Content-Type: application/octet-stream' "$1/v1/models/$2") || lt_die "uploading $2 to $1 failed"
  [[ $status == 2* ]] || { cat "$work/upload.json" >&2; lt_die "uploading $2 answered HTTP $status"; }
}

# lt_check_forecast URL NAME INPUT STEPS: one forecast must answer 200, so a load run never measures error answers.
lt_check_forecast() {
  local body status
  body=$(python3 -c 'import json,sys; i,s=int(sys.argv[1]),int(sys.argv[2]); print(json.dumps({"inputs":[[[0.1*((t+f)%7) for f in range(i)] for t in range(s)]]}))' "$3" "$4")
  status=$(curl -sS -o "$work/check.json" -w '%{http_code}' -H 'Content-Type: application/json' -d "$body" \
    "$1/v1/models/$2/forecast") || lt_die "forecast on $2 failed"
  [[ $status == 200 ]] || { cat "$work/check.json" >&2; echo >&2; lt_die "forecast on $2 answered HTTP $status"; }
}

# lt_rss_kib PID: the resident set (VmRSS) in KiB.
lt_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
lt_hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# lt_cpu_seconds PID: user + system CPU time the process has used (utime and stime of /proc/PID/stat).
lt_cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$1/stat"
}

# lt_inference_totals URL: "SECONDS COUNT" summed over gruservice_inference_duration_seconds (0 0 when absent), to
# tell the engine's share of a request from the rest of it.
lt_inference_totals() {
  { curl -fsS --max-time 5 "$1/metrics" 2>/dev/null || true; } | awk '
    /^gruservice_inference_duration_seconds_sum/ { sum += $2 }
    /^gruservice_inference_duration_seconds_count/ { count += $2 }
    END { printf "%.6f %d\n", sum, count }'
}

# lt_result_line FILE: the JSON that forecast.lua's done() printed in a wrk output file.
lt_result_line() {
  local line
  line=$(grep -m1 '^LOADTEST_RESULT ' "$1") || { cat "$1" >&2; lt_die "wrk printed no result line (output above)"; }
  printf '%s\n' "${line#LOADTEST_RESULT }"
}

# The run's circumstances, for the result files: load, cores, commit, versions.
lt_load_average() { cut -d' ' -f1-3 /proc/loadavg; }
lt_environment_json() {
  python3 - "$repo" <<'PY'
import json, os, platform, subprocess, sys
repo = sys.argv[1]
def run(*cmd):
    try:
        return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return ""
print(json.dumps({
    "host": platform.node(), "cores": os.cpu_count(), "kernel": platform.release(),
    "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), ""),
    "commit": run("git", "rev-parse", "--short", "HEAD"), "dirty": run("git", "status", "--porcelain") != "",
    "dotnet": run("dotnet", "--version"), "wrk": run("sh", "-c", "wrk --version 2>&1 | head -1"),
    # Runtime settings only: the SDK's own DOTNET_CLI_* and DOTNET_NOLOGO-style variables change nothing measured.
    "dotnet_env": {k: v for k, v in os.environ.items() if k.startswith(("DOTNET_", "COMPlus_"))
                   and not k.startswith(("DOTNET_CLI_", "DOTNET_NOLOGO", "DOTNET_GENERATE_ASPNET_CERTIFICATE"))},
}))
PY
}
