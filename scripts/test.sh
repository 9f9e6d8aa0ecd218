#!/usr/bin/env bash
# Runs every test, with race detection, against SQLite and PostgreSQL.
# Without CLAUDEMESH_TEST_DATABASE_URL it starts a throwaway PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CLAUDEMESH_TEST_DATABASE_URL:-}" ]; then
  . scripts/pg-throwaway.sh
fi
export CLAUDEMESH_REQUIRE_POSTGRES=1 # PostgreSQL tests must run, never skip
# -p 1: one package at a time, so the latency assertions (held messages
# within 50 ms of turning idle) do not compete with other packages for the
# two cores of a CI machine.
go test -race -count=1 -p 1 -timeout 30m "$@" ./...
# The load generator is its own module, which the root ./... does not reach.
(cd tools/meshload && go test -race -count=1 -p 1 -timeout 30m "$@" ./...)
