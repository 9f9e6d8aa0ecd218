package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/tools/meshload/internal/scenario"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/verify"
)

func TestNum(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", 20000.4: "20,000", 12.5: "12.5", -4200: "-4,200"} {
		if got := Num(in); got != want {
			t.Errorf("Num(%v) = %q, want %q", in, got, want)
		}
	}
}

func lossyResult() *scenario.Result {
	return &scenario.Result{Scenario: "dm", Target: "broker", Backend: "sqlite", Sent: 10, Throughput: 1000,
		Options: scenario.Options{Sessions: 4, Duration: time.Second, Window: 2, Size: 64, Drain: time.Second},
		Counts:  verify.Counts{Acked: 10, Expected: 10, Delivered: 9, Lost: 1, Duplicates: 2},
		Errors:  map[string]int64{"rate_limited": 3}, Failures: []string{"1 acked deliveries lost"},
		EndToEndLabel: "send -> push at the last recipient"}
}

func TestHumanShowsTheVerdictAndItsReasons(t *testing.T) {
	var b bytes.Buffer
	Human(&b, lossyResult())
	out := b.String()
	for _, want := range []string{"4 sessions, as fast as acks allow, window 2, 1s, 64-byte messages",
		"lost 1, duplicates 2", "rate_limited=3", "verdict              FAIL", "- 1 acked deliveries lost"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestJSONCarriesSettingsAndVerification(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, lossyResult()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Settings struct {
			Duration string `json:"duration"`
			Sessions int    `json:"sessions"`
		} `json:"settings"`
		Verification verify.Counts `json:"verification"`
		Failures     []string      `json:"failures"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Settings.Duration != "1s" || got.Settings.Sessions != 4 || got.Verification.Lost != 1 || len(got.Failures) != 1 {
		t.Fatalf("decoded %+v from %s", got, b.String())
	}
}
