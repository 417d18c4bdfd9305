#!/usr/bin/env bash
# Installs the tools the tests call that do not come with the .NET SDK: promtool (apt package prometheus),
# which checks the /metrics output. Does nothing when they are already there.
set -euo pipefail

# PostgreSQL server binaries (apt package postgresql) for the Postgres storage tests, which start a throwaway cluster of their own.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { s=""; [[ $(id -u) -eq 0 ]] || s="sudo"; $s apt-get update -qq && DEBIAN_FRONTEND=noninteractive $s apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }

if command -v promtool >/dev/null 2>&1; then
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "promtool is missing and installing it needs root: apt-get install prometheus" >&2; exit 1; }
  sudo="sudo"
fi
echo "Installing promtool (apt package prometheus)..."
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null
