#!/usr/bin/env bash
# Acceptance check: random PyTorch-layout GRU models that no test contains, uploaded with PUT, answer forecast
# and classify within 1e-5 scaled error of ONNX Runtime on the same weights.
#   scripts/verify-against-onnx.sh [--url URL] [--count N] [--seed S] [--refs DIR]
# Without --url it builds the service into a temp dir and runs it on a free loopback port with a temp storage
# root and a fresh API key, stopped at exit; with --url, put a key with scope manage in API_KEY. --refs defaults to
# ../shared/refs beside the repo (ONNX Runtime tooling, Node).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
url='' count=24 seed='' refs=$repo/../shared/refs
while (($#)); do
  case $1 in
    --url) url=${2:?--url needs a value}; shift 2 ;;
    --count) count=${2:?--count needs a value}; shift 2 ;;
    --seed) seed=${2:?--seed needs a value}; shift 2 ;;
    --refs) refs=${2:?--refs needs a value}; shift 2 ;;
    -h | --help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $count =~ ^[1-9][0-9]*$ ]] || { echo "--count must be a positive integer" >&2; exit 2; }
# The tests' reference vectors use seeds 1..40: a fresh base >= 100000 gives models none of them contains.
seed=${seed:-$((100000 + RANDOM * 32768 + RANDOM))}
[[ $seed =~ ^[0-9]+$ ]] || { echo "--seed must be a non-negative integer" >&2; exit 2; }
((seed > 40)) || echo "warning: seeds 1..40 are the tests' own reference models" >&2

work=$(mktemp -d "${TMPDIR:-/tmp}/verify-onnx.XXXXXX")
pid=''
cleanup() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so the EXIT trap stops the service on Ctrl-C too

bash "$refs/setup.sh"
vectors=$work/vectors checker=$repo/scripts/verify-against-onnx.mjs
echo "generating $count models, seeds $seed..$((seed + count - 1)) (rerun these with --seed $seed)"
node "$refs/make_vectors.js" "$vectors" "$seed" "$count"
# A small random set can miss a task, a variant or bidirectional models; add seeds until it has them all.
next=$((seed + count))
while :; do
  gaps=$(node "$checker" --gaps --vectors "$vectors")
  [[ -z $gaps ]] && break
  ((next < seed + count + 200)) || { echo "no coverage of: $gaps after 200 extra seeds" >&2; exit 1; }
  echo "coverage: no $gaps yet; adding seed $next"
  node "$refs/make_vectors.js" "$vectors" "$next" 1 >/dev/null
  next=$((next + 1))
done

if [[ -z $url ]]; then
  echo "building the service into $work/app"
  dotnet build "$repo/src/GruService.Api" -c Release -o "$work/app" --nologo >"$work/build.log" 2>&1 ||
    { tail -n 40 "$work/build.log" >&2; exit 1; }
  port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
  url=http://127.0.0.1:$port
  # The models are uploaded with PUT, which needs a key with scope manage; verify-against-onnx.mjs sends API_KEY.
  API_KEY=$(node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))')
  export API_KEY
  dotnet "$work/app/GruService.Api.dll" --urls "$url" --Storage:Root="$work/storage" --Shutdown:DrainDelaySeconds=0 \
    --Security:ApiKeys:verify:Key="$API_KEY" --Security:ApiKeys:verify:Scopes:0=manage \
    --Security:ApiKeys:verify:Scopes:1=infer >"$work/service.log" 2>&1 &
  pid=$!
  for ((i = 0; ; i++)); do
    curl -fsS -o /dev/null "$url/readyz" 2>/dev/null && break
    if ! kill -0 "$pid" 2>/dev/null || ((i >= 240)); then
      echo "the service at $url did not become ready; its log ends:" >&2; tail -n 40 "$work/service.log" >&2; exit 1
    fi
    sleep 0.25
  done
  echo "service ready at $url (storage $work/storage)"
fi

node "$checker" --url "$url" --vectors "$vectors"
