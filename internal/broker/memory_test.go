package broker_test

import (
	"strings"
	"testing"

	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

// memoryCorpus: a few memories on each topic; the queries below must find
// their topic's memories ahead of the rest.
var memoryCorpus = []struct {
	key, content string
	tags         []string
}{
	{"pg-lag", "PostgreSQL replication lag on the staging replica reached 40 seconds during the backfill", []string{"database"}},
	{"pg-fix", "Replication lag is fixed by raising wal_keep_size on the PostgreSQL primary", []string{"database"}},
	{"pg-other", "The PostgreSQL version in production is 16", nil},
	{"oncall", "Ping Dana before touching anything in the payments service", []string{"oncall", "payments"}},
	{"deploy-1", "Deploys go out from the main branch every weekday at 10:00", []string{"release"}},
	{"deploy-2", "A failed deploy is rolled back with the rollback workflow", []string{"release"}},
	{"cache", "The Redis cache keeps sessions for 24 hours", []string{"cache"}},
	{"auth", "Auth tokens are signed with ed25519 and expire after one hour", []string{"security"}},
	{"style", "Go code is formatted with gofmt and linted with vet", []string{"style"}},
	{"tests", "Integration tests need Docker and take about four minutes", []string{"ci"}},
	{"flaky", "The websocket reconnect test was flaky until we polled with a deadline", []string{"ci"}},
	{"api", "The public API is versioned under /v1 and documented in OpenAPI", []string{"api"}},
	{"logs", "Logs are shipped to Loki and kept for thirty days", []string{"observability"}},
	{"metrics", "Prometheus scrapes the broker every fifteen seconds", []string{"observability"}},
	{"frontend", "The dashboard is a React app built with Vite", []string{"frontend"}},
	{"design", "Design reviews happen on Thursdays with the platform team", []string{"process"}},
	{"vacation", "Sam is away the last week of August", []string{"team"}},
	{"backups", "Nightly backups land in the cold storage bucket and are tested monthly", []string{"ops"}},
	{"dns", "DNS for internal services lives in the infra repository", []string{"ops"}},
	{"queue", "The message queue retries failed jobs three times with backoff", []string{"jobs"}},
	{"search", "Full text search uses tsvector with a GIN index", []string{"search"}},
	{"budget", "Cloud spend is reviewed at the start of each month", []string{"finance"}},
	{"onboard", "New engineers get access through the onboarding checklist", []string{"team"}},
	{"secrets", "Secrets are stored in the vault, never in the repository", []string{"security"}},
}

func TestRecallRanksRelevantMemoriesFirst(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		h := startBroker(t, b)
		ac, bc := h.addMember("alice").connect(), h.addMember("bob").connect()
		ids := map[string]string{}
		for _, m := range memoryCorpus {
			f := map[string]any{"type": "remember", "content": m.content}
			if m.tags != nil {
				f["tags"] = m.tags
			}
			r := request(ac, f)
			if r["type"] != "memory_stored" || r["id"] == "" {
				t.Fatalf("remember: %v", r)
			}
			ids[r["id"].(string)] = m.key
		}
		recall := func(query string, limit int) []string {
			t.Helper()
			f := map[string]any{"type": "recall", "query": query}
			if limit > 0 {
				f["limit"] = limit
			}
			r := request(bc, f)
			if r["type"] != "memory_results" {
				t.Fatalf("recall %q: %v", query, r)
			}
			var keys []string
			prev := 1e18
			for _, m := range r["memories"].([]any) {
				mm := m.(map[string]any)
				if rank := mm["rank"].(float64); rank > prev || rank <= 0 {
					t.Fatalf("recall %q: ranks not descending and positive: %v", query, r["memories"])
				}
				prev = mm["rank"].(float64)
				if mm["rememberedBy"] != "alice" || mm["rememberedAt"] == "" || mm["tags"] == nil {
					t.Fatalf("recall %q: memory %v", query, mm)
				}
				keys = append(keys, ids[mm["id"].(string)])
			}
			return keys
		}
		cases := []struct {
			query string
			first []string // in any order, ahead of everything else
			all   int      // how many match in total
		}{
			{"postgresql replication lag", []string{"pg-lag", "pg-fix"}, 3},
			{"oncall", []string{"oncall"}, 1},                         // a tag, not in the content
			{"release rollback", []string{"deploy-2", "deploy-1"}, 2}, // content and tag
			{"Observability!", []string{"logs", "metrics"}, 2},        // punctuation and case are ignored
			{"deploys", []string{"deploy-1", "deploy-2"}, 2},          // stemming: deploys ~ deploy
			{"zebra unicorn", nil, 0},                                 // nothing relevant
			{`"unbalanced AND (NOT *`, nil, -1},                       // operators are plain words: no error, any result
		}
		for _, tc := range cases {
			got := recall(tc.query, 0)
			if tc.all >= 0 && len(got) != tc.all {
				t.Fatalf("recall %q = %v, want %d results", tc.query, got, tc.all)
			}
			if tc.all < 0 {
				continue
			}
			for i, key := range tc.first {
				if !contains(got[:len(tc.first)], key) {
					t.Fatalf("recall %q = %v, want %v first (missing %s at %d)", tc.query, got, tc.first, key, i)
				}
			}
		}
		if got := recall("postgresql replication lag", 1); len(got) != 1 || (got[0] != "pg-lag" && got[0] != "pg-fix") {
			t.Fatalf("limit 1: %v", got)
		}
		// forget removes a memory from results; a second forget is not_found.
		var pgFix string
		for id, key := range ids {
			if key == "pg-fix" {
				pgFix = id
			}
		}
		if r := request(bc, map[string]any{"type": "forget", "memoryId": pgFix}); r["type"] != "ok" {
			t.Fatalf("forget: %v", r)
		}
		if got := recall("primary", 0); len(got) != 0 {
			t.Fatalf("forgotten memory recalled: %v", got)
		}
		expectCode(t, request(bc, map[string]any{"type": "forget", "memoryId": pgFix}), "not_found")
		// Limits and shape.
		expectCode(t, request(ac, map[string]any{"type": "remember", "content": strings.Repeat("x", 16*1024+1)}), "too_large")
		expectCode(t, request(ac, map[string]any{"type": "remember", "content": "  "}), "malformed")
		expectCode(t, request(ac, map[string]any{"type": "recall", "query": ""}), "malformed")
		if r := request(ac, map[string]any{"type": "remember", "content": strings.Repeat("x", 16*1024)}); r["type"] != "memory_stored" {
			t.Fatalf("16 KiB memory: %v", r)
		}
		// Another mesh sees none of it.
		other := h.addMemberTo(h.newMesh("other").ID, "eve").connect()
		if r := request(other, map[string]any{"type": "recall", "query": "postgresql"}); len(r["memories"].([]any)) != 0 {
			t.Fatalf("cross-mesh recall: %v", r)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
