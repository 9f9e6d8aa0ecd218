package verify

import (
	"testing"
	"time"
)

// event is one step fed to a verifier: an ack (expect set) or a push.
type event struct {
	ack    bool
	id     string
	who    int   // push recipient
	expect []int // ack recipients
}

func TestVerifierCounts(t *testing.T) {
	const n = 4
	tests := []struct {
		name   string
		events []event
		want   Counts
		e2e    int // complete messages
	}{
		{"dm delivered after its ack", []event{{ack: true, id: "m1", expect: []int{1}}, {id: "m1", who: 1}},
			Counts{Acked: 1, Expected: 1, Delivered: 1}, 1},
		{"push before its ack still counts", []event{{id: "m1", who: 2}, {ack: true, id: "m1", expect: []int{2}}},
			Counts{Acked: 1, Expected: 1, Delivered: 1}, 1},
		{"an acked message that never arrives is lost", []event{{ack: true, id: "m1", expect: []int{1}}},
			Counts{Acked: 1, Expected: 1, Lost: 1}, 0},
		{"a broadcast missing one recipient loses one delivery", []event{
			{ack: true, id: "b1", expect: []int{1, 2, 3}}, {id: "b1", who: 1}, {id: "b1", who: 3}},
			Counts{Acked: 1, Expected: 3, Delivered: 2, Lost: 1}, 0},
		{"the same push twice is a duplicate, not two deliveries", []event{
			{ack: true, id: "m1", expect: []int{1}}, {id: "m1", who: 1}, {id: "m1", who: 1}},
			Counts{Acked: 1, Expected: 1, Delivered: 1, Duplicates: 1}, 1},
		{"a push to a session that was not a recipient is misrouted", []event{
			{ack: true, id: "m1", expect: []int{1}}, {id: "m1", who: 1}, {id: "m1", who: 2}},
			Counts{Acked: 1, Expected: 1, Delivered: 2, Misrouted: 1}, 1},
		{"misrouted before the ack is caught at the ack", []event{
			{id: "m1", who: 3}, {ack: true, id: "m1", expect: []int{1}}, {id: "m1", who: 1}},
			Counts{Acked: 1, Expected: 1, Delivered: 2, Misrouted: 1}, 1},
		{"a delivery of a message never acked is reported, not lost", []event{{id: "m9", who: 1}},
			Counts{Delivered: 1, Unacked: 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := New(n)
			t0 := time.Now()
			for i, e := range tt.events {
				at := t0.Add(time.Duration(i+1) * time.Millisecond)
				if e.ack {
					set := NewSet(n)
					for _, r := range e.expect {
						set.Add(r)
					}
					v.Acked(e.id, t0, at, set)
				} else {
					v.Delivered(e.id, e.who, at)
				}
			}
			if got := v.Counts(); got != tt.want {
				t.Fatalf("counts = %+v, want %+v", got, tt.want)
			}
			if got := v.Counts().Failed(); got != (tt.want.Lost > 0 || tt.want.Misrouted > 0) {
				t.Fatalf("Failed() = %v for %+v", got, tt.want)
			}
			if got := v.EndToEnd.Summary().Count; got != tt.e2e {
				t.Fatalf("end-to-end samples = %d, want %d", got, tt.e2e)
			}
			if got := v.Outstanding(); got != tt.want.Lost {
				t.Fatalf("Outstanding() = %d, want %d", got, tt.want.Lost)
			}
		})
	}
}

func TestEndToEndIsSendToLastRecipient(t *testing.T) {
	v := New(3)
	t0 := time.Now()
	v.Acked("b", t0, t0.Add(time.Millisecond), AllExcept(3, 0))
	v.Delivered("b", 1, t0.Add(2*time.Millisecond))
	if v.EndToEnd.Summary().Count != 0 {
		t.Fatal("a broadcast is not complete before its last recipient")
	}
	v.Delivered("b", 2, t0.Add(7*time.Millisecond))
	if s := v.EndToEnd.Summary(); s.Count != 1 || s.Max != 7 {
		t.Fatalf("end-to-end = %+v, want one sample of 7 ms", s)
	}
	if s := v.AckLatency.Summary(); s.Count != 1 || s.Max != 1 {
		t.Fatalf("ack latency = %+v, want one sample of 1 ms", s)
	}
}

func TestSummarizeNearestRank(t *testing.T) {
	var s []time.Duration
	for i := 100; i >= 1; i-- { // unsorted input
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	got := Summarize(s)
	want := Summary{Count: 100, P50: 50, P95: 95, P99: 99, Max: 100}
	if got != want {
		t.Fatalf("Summarize = %+v, want %+v", got, want)
	}
	if (Summarize(nil) != Summary{}) {
		t.Fatal("no samples must give a zero summary")
	}
}

func TestSet(t *testing.T) {
	s := AllExcept(130, 64)
	if s.Len() != 129 || s.Has(64) || !s.Has(0) || !s.Has(129) || s.Has(130) {
		t.Fatalf("AllExcept(130, 64) is wrong: len %d", s.Len())
	}
	if o := One(10, 3); o.Len() != 1 || !o.Has(3) {
		t.Fatal("One(10, 3) is wrong")
	}
}
