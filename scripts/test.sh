#!/usr/bin/env bash
# The test command: installs what the tests need, runs every test of the solution, then validates the container
# and deployment files (scripts/validate-deploy.sh; its publish reuses the build the tests just made). The
# validation runs even when a test fails, so that one run reports both; the command fails if either did.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-test-deps.sh
status=0
dotnet test GruService.sln -c Release "$@" || status=$?
./scripts/validate-deploy.sh || status=$?
exit "$status"
