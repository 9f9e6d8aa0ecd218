package bench

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/tools/meshload/internal/scenario"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/verify"
)

func TestStandardSetIsP1ToP8(t *testing.T) {
	var ids []string
	for _, it := range standard(false) {
		ids = append(ids, it.id)
		if it.id != "P5" && it.id != "P8" && it.measure == nil {
			t.Errorf("%s has no measure", it.id)
		}
	}
	if got := strings.Join(ids, ","); got != "P1,P8,P2,P3,P4,P5,P6,P7" {
		t.Fatalf("order = %s (P8 must follow P1, P5 must follow P4)", got)
	}
	full, quick := standard(false), standard(true)
	if full[0].opts.Sessions != 200 || full[4].opts.Sessions != 10000 || full[6].opts.Sessions != 500 {
		t.Fatal("the full set must use the sizes of the quality spec")
	}
	if quick[4].opts.Sessions >= full[4].opts.Sessions {
		t.Fatal("--quick must scale the set down")
	}
}

func TestMeasuresJudgeTheTargets(t *testing.T) {
	items := map[string]item{}
	for _, it := range standard(false) {
		items[it.id] = it
	}
	p1 := items["P1"].measure
	if _, met := p1(&scenario.Result{Throughput: 19999}); met {
		t.Error("P1 below 20,000 msg/s must miss")
	}
	if _, met := p1(&scenario.Result{Throughput: 20000}); !met {
		t.Error("P1 at 20,000 msg/s must meet")
	}
	p7 := items["P7"].measure
	held := &scenario.Result{EndToEnd: verify.Summary{Count: 20, Max: 49}}
	if _, met := p7(held); !met {
		t.Error("P7 with every recipient within 50 ms must meet")
	}
	held.EndToEnd.Count = 19
	if _, met := p7(held); met {
		t.Error("P7 missing a recipient's flip latency must miss")
	}
	p4 := items["P4"].measure
	conn := &scenario.Result{Hello: &scenario.HelloStats{Sessions: 10000}, RSS: &scenario.RSSStats{EndMB: 300, PerSessionKB: 30}}
	if _, met := p4(conn); !met {
		t.Error("P4 at 300 MiB and 30 KiB each must meet")
	}
	conn.Hello.Dropped = 1
	if _, met := p4(conn); met {
		t.Error("P4 with a dropped session must miss")
	}
}

func TestMarkdownReportsEveryOutcome(t *testing.T) {
	ok := &scenario.Result{Scenario: "dm", Target: "broker", Backend: "sqlite", Throughput: 21000,
		Options: scenario.Options{Sessions: 200, Duration: 10 * time.Second, Window: 16, Size: 64},
		Broker:  map[string]string{"SEND_RATE_PER_SEC": "1000000"}, Counts: verify.Counts{Acked: 10, Expected: 10, Delivered: 10}}
	lossy := &scenario.Result{Scenario: "dm", Target: "broker", Backend: "postgres",
		Counts: verify.Counts{Acked: 10, Expected: 10, Delivered: 9, Lost: 1}, Failures: []string{"1 acked deliveries lost"},
		Errors: map[string]int64{"unavailable": 2}}
	outs := []Outcome{
		{ID: "P1", Figure: "throughput", Target: ">= 20,000 msg/s", Measured: "21,000 msg/s", Met: true, Lost: "0", Result: ok, Load: [2]float64{0.5, 1}},
		{ID: "P3", Figure: "pg throughput", Target: ">= 8,000 msg/s", Measured: "7,000 msg/s", Lost: "1", Result: lossy, Load: [2]float64{9, 9}},
		{ID: "P4", Figure: "sessions", Target: "10,000", Err: errors.New("no | pipes\nplease"), Lost: "-"},
	}
	var b bytes.Buffer
	Markdown(&b, Config{}, outs, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), 90*time.Second)
	md := b.String()
	for _, want := range []string{
		"# claudemesh benchmark, 2026-03-01",
		"| P1 | throughput | 21,000 msg/s | >= 20,000 msg/s | 0 | met |",
		"| P3 | pg throughput | 7,000 msg/s | >= 8,000 msg/s | 1 | **failed verification** |",
		"| P4 | sessions | error: no / pipes please | 10,000 | - | **not run** |",
		"SEND_RATE_PER_SEC=1000000",
		"## Machine",
		"- P3: 1-minute load average 9.0 before",
		"- P3: errors by code: unavailable=2.",
		"### P1",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
