#!/usr/bin/env bash
# The test command: installs what the tests need, runs every test of the solution, then validates the container
# and deployment files (scripts/validate-deploy.sh; its publish reuses the build the tests just made). The
# validation runs even when a test fails, so that one run reports both; the command fails if either did.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-test-deps.sh
status=0
dotnet test GruService.sln -c Release "$@" || status=$?
# The multi-replica test's figures (requests sent and failed, jobs taken over), which a passing test does not print.
figures=tests/GruService.Api.Tests/TestResults/multi-replica.json
if [[ -f $figures ]]; then echo "multi-replica test figures:"; cat "$figures"; echo; fi
./scripts/validate-deploy.sh || status=$?
exit "$status"
