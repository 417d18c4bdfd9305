#!/usr/bin/env bash
# The speed table of issue 4: GruService's forward pass (the `kernel` verb of tests/GruService.Benchmarks) against
# ONNX Runtime's (../shared/refs/bench_ort.js) on the five target shapes, both measured in this one run, with 2
# threads and with 1. Each shape runs the two engines alternately --repeats times; the table shows the median of
# each engine's median-of-runs GFLOP/s and their ratio.
#   scripts/benchmark-kernels.sh [--repeats N] [--threads "2 1"] [--refs DIR] [--out FILE.md]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
repeats=3 threads_list='2 1' refs=$repo/../shared/refs out=''
while (($#)); do
  case $1 in
    --repeats) repeats=${2:?--repeats needs a value}; shift 2 ;;
    --threads) threads_list=${2:?--threads needs a value}; shift 2 ;;
    --refs) refs=${2:?--refs needs a value}; shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    -h | --help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $repeats =~ ^[1-9][0-9]*$ ]] || { echo "--repeats must be a positive integer" >&2; exit 2; }

bash "$refs/setup.sh"
dotnet build "$repo/tests/GruService.Benchmarks" -c Release -v quiet -nologo >/dev/null
ours=("$repo/tests/GruService.Benchmarks/bin/Release/net10.0/GruService.Benchmarks" kernel)

# input hidden steps batch: one small request, a batch of them, one large request, a batch of them, a training batch.
shapes=('8 64 50 1' '8 64 50 64' '32 256 100 1' '32 256 100 64' '28 128 28 256')

gflops() { sed -n 's/.*"gflops":\([0-9.]*\).*/\1/p'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

table="| threads | input | hidden | steps | batch | ONNX Runtime GFLOP/s | GruService GFLOP/s | ratio |
|---|---|---|---|---|---|---|---|"
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for threads in $threads_list; do
  for shape in "${shapes[@]}"; do
    read -r input hidden steps batch <<<"$shape"
    args=(--input "$input" --hidden "$hidden" --steps "$steps" --batch "$batch" --threads "$threads")
    ort_runs='' our_runs=''
    for ((r = 0; r < repeats; r++)); do
      ort_line=$(node "$refs/bench_ort.js" "${args[@]}")
      our_line=$("${ours[@]}" "${args[@]}")
      echo "$ort_line" >>"$raw"; echo "$our_line" >>"$raw"
      ort_runs+="$(gflops <<<"$ort_line")"$'\n'
      our_runs+="$(gflops <<<"$our_line")"$'\n'
    done
    ort=$(median <<<"${ort_runs%$'\n'}") mine=$(median <<<"${our_runs%$'\n'}")
    ratio=$(awk -v a="$mine" -v b="$ort" 'BEGIN { printf "%.2f", a / b }')
    row="| $threads | $input | $hidden | $steps | $batch | $ort | $mine | ${ratio}× |"
    table+=$'\n'"$row"
    echo "$row" >&2
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "$table"
echo
echo "Raw lines (one per engine and repeat):"
sed 's/^/    /' "$raw"
if [[ -n $out ]]; then { echo "$table"; echo; echo "Raw lines:"; sed 's/^/    /' "$raw"; } >"$out"; fi
