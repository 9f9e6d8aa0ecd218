#!/usr/bin/env bash
# Runs the reliability scenarios (docs/reliability.md) in their long
# variants: CLAUDEMESH_SOAK=1 makes the restart scenarios (R1, R8) run more
# senders through five kill/terminate cycles, the database outage (R2) three
# 30 s outages, and the slow reader (R5) four times the data. Without
# CLAUDEMESH_TEST_DATABASE_URL it starts a throwaway PostgreSQL.
#   ./scripts/soak.sh            # or: make soak
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CLAUDEMESH_TEST_DATABASE_URL:-}" ]; then
  . scripts/pg-throwaway.sh
fi
export CLAUDEMESH_REQUIRE_POSTGRES=1 CLAUDEMESH_SOAK=1
scenarios='TestRestartMidLoadLosesNoAckedMessage|TestPostgresOutageDuringLoad|TestSlowReaderIsClosedAndItsMailWaits|TestFloodingMemberLeavesOtherMeshesHealthy|TestFailedAuthenticationsAreLimitedPerAddress|TestMeshIsolation|TestForgedReplayedAndRevokedRequestsAreRefused|TestConcurrentClaims'
# No -race: the point is sustained load; `make test` runs the same tests with it.
go test -count=1 -p 1 -timeout 60m -v -run "^($scenarios)\$" "$@" ./cmd/broker ./internal/broker ./internal/api |
  grep -E '^(=== RUN|--- |ok|FAIL|PASS|panic)|_test\.go:'
