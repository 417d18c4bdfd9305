#!/usr/bin/env bash
# Reproduces the bundled default models in models/ from their data: ETTh1 (committed in models/data) and
# Fashion-MNIST (Debian package dataset-fashion-mnist, installed here when missing). Seeds are fixed: with the same
# thread count (default 2) the files come out bit for bit the same.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi
dotnet run -c Release --project src/GruService.Cli -- train-bundled --out models "$@"
