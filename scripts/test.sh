#!/usr/bin/env bash
# The test command: installs what the tests need, runs every test of the solution, then validates the container
# and deployment files (scripts/validate-deploy.sh; its publish reuses the build the tests just made).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-test-deps.sh
dotnet test GruService.sln -c Release "$@"
./scripts/validate-deploy.sh
