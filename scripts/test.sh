#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every test of the solution.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-test-deps.sh
dotnet test GruService.sln -c Release "$@"
