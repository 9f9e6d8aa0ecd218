#!/usr/bin/env bash
# Runs every Go fuzz target for FUZZTIME (default 60s), one after another,
# and stops at the first failure (quality.md R4). The failing input is left
# in the package's testdata/fuzz/<Target>/: commit it as a regression seed
# once the bug is fixed. Adding a target is one line in TARGETS.
#   FUZZTIME=5m ./scripts/fuzz.sh            all targets, 5 minutes each
#   ./scripts/fuzz.sh FuzzHello FuzzDispatch only these
# CLAUDEMESH_FUZZ_BACKEND=postgres (with CLAUDEMESH_TEST_DATABASE_URL) runs
# the broker targets on PostgreSQL instead of SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-60s}"
# Minimizing each new interesting input may take up to 60 s by default,
# during which no executions are counted; keep it short. A target may set
# its own (third column): the broker targets, one socket per execution,
# find "new" coverage in timing-dependent broker paths so often that
# minimizing would take most of their time.
FUZZMINIMIZETIME="${FUZZMINIMIZETIME:-5s}"

TARGETS=(
	"./internal/protocol FuzzDecodeClientFrame"
	"./internal/protocol FuzzHelloSignature"
	"./internal/broker FuzzDispatch 50x"
	"./internal/broker FuzzHello 20x"
	"./internal/invite FuzzParseV1Link"
	"./internal/invite FuzzDecodeV1Token"
	"./internal/invite FuzzV1SignRoundTrip"
	"./internal/invite FuzzInviteCode"
	"./internal/invite FuzzOwnerFingerprint"
	"./internal/cli FuzzParseInviteRef"
	"./internal/cli FuzzSplitCanonicalV2"
	"./internal/config FuzzResolveConfig"
	"./internal/cliconfig FuzzConfigRoundTrip"
	"./internal/transcript FuzzTail"
	"./internal/claudecode FuzzInstallRoundTrip"
)

summary=()
for entry in "${TARGETS[@]}"; do
	read -r pkg target minimize <<<"$entry"
	if [ $# -gt 0 ] && [[ " $* " != *" $target "* ]]; then
		continue
	fi
	echo "=== $target ($pkg, $FUZZTIME)"
	log="$(mktemp)"
	corpus="$pkg/testdata/fuzz/$target"
	before="$(ls "$corpus" 2>/dev/null | sort || true)"
	if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "${minimize:-$FUZZMINIMIZETIME}" "$pkg" 2>&1 | tee "$log"; then
		after="$(ls "$corpus" 2>/dev/null | sort || true)"
		# Go 1.26's coordinator can report its own -fuzztime deadline as a
		# failure when a worker is mid-execution (go.dev/issue/75804, fixed
		# in Go 1.27). That writes no failing input; a real failure does.
		if [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$log" && ! grep -q -- '--- FAIL: .* (0\.' "$log"; then
			echo "warning: $target hit the -fuzztime shutdown race (go.dev/issue/75804); no failing input, not a failure" >&2
		else
			rm -f "$log"
			echo "FAIL: $target" >&2
			exit 1
		fi
	fi
	# The last progress line holds the totals, elapsed as Go prints it (1m0s).
	last="$(grep -E '^fuzz: elapsed: [0-9hms]+, execs: [0-9]+' "$log" | tail -n 1 || true)"
	rm -f "$log"
	secs="$(sed -E 's/^fuzz: elapsed: ([0-9hms]+),.*/\1/' <<<"$last" |
		awk '{ s = 0; while (match($0, /^[0-9]+[hms]/)) { n = substr($0, 1, RLENGTH - 1); u = substr($0, RLENGTH, 1);
			s += n * (u == "h" ? 3600 : u == "m" ? 60 : 1); $0 = substr($0, RLENGTH + 1) } print s }')"
	execs="$(sed -E 's/.*execs: ([0-9]+).*/\1/' <<<"$last")"
	if [ -n "$last" ] && [ "$secs" -gt 0 ]; then
		load="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')"
		summary+=("$(printf '%-24s %10s execs in %4ss = %7s/s  (load %s)' "$target" "$execs" "$secs" "$((execs / secs))" "$load")")
	fi
done

echo "=== summary (load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown))"
printf '%s\n' "${summary[@]}"
