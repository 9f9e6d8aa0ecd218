// Package scenario runs meshload's workloads (dm, broadcast, connect,
// held) against a broker or the bare relay, verifying every delivery.
package scenario

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/claudemesh/claudemesh/tools/meshload/internal/verify"
)

// Env says where a scenario runs.
type Env struct {
	URL        string // http://host:port of the broker or relay
	AdminToken string // Bearer token for POST /meshes, when the broker needs one
	PID        int    // the broker's (or relay's) process id for RSS; 0: unknown
	Relay      bool   // the target is the bare relay: no HTTP setup, keys made locally
	Backend    string // sqlite | postgres | relay, for the report
	Progress   io.Writer
	// Steady, when set, is called as the measured load begins (sending
	// starts; for connect, once every session is held) with how long it
	// lasts; the scenario calls the returned func when the load ends,
	// before it drains or closes anything, and it waits for whatever
	// Steady started (the benchmark's broker profiles).
	Steady func(ctx context.Context, window time.Duration) (wait func())
}

// steady calls env.Steady if set; the returned func is never nil.
func (env Env) steady(ctx context.Context, window time.Duration) func() {
	if env.Steady == nil {
		return func() {}
	}
	if wait := env.Steady(ctx, window); wait != nil {
		return wait
	}
	return func() {}
}

// Options are the knobs of every scenario; each uses the ones it needs.
type Options struct {
	Sessions int           `json:"sessions"`
	Duration time.Duration `json:"duration"`
	// Rate is the total send rate in messages/s; 0 sends as fast as acks
	// allow, each session keeping Window sends in flight.
	Rate   int `json:"rate"`
	Window int `json:"window"`
	Size   int `json:"size"` // plaintext bytes per message
	// Senders broadcast (broadcast) or send held messages (held).
	Senders int `json:"senders,omitempty"`
	// Recipients and Held: held scenario shape.
	Recipients int           `json:"recipients,omitempty"`
	Held       int           `json:"held_per_recipient,omitempty"`
	FlipGap    time.Duration `json:"flip_gap,omitempty"`
	// MeshSize splits connect's sessions into meshes of this many.
	MeshSize int           `json:"mesh_size,omitempty"`
	Hold     time.Duration `json:"hold,omitempty"`

	DialConcurrency  int           `json:"dial_concurrency"`
	ClaimConcurrency int           `json:"claim_concurrency"`
	Drain            time.Duration `json:"drain"` // how long to wait for the last acks and pushes
}

// MarshalJSON writes durations as Go duration strings ("10s"), which a
// reader of the JSON output can take in at a glance.
func (o Options) MarshalJSON() ([]byte, error) {
	type plain Options
	return json.Marshal(struct {
		plain
		Duration string `json:"duration"`
		FlipGap  string `json:"flip_gap,omitempty"`
		Hold     string `json:"hold,omitempty"`
		Drain    string `json:"drain"`
	}{plain(o), o.Duration.String(), durationOrEmpty(o.FlipGap), durationOrEmpty(o.Hold), o.Drain.String()})
}

func durationOrEmpty(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// Defaults fills unset options with the values of the standard set.
func (o *Options) Defaults(scenario string) {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defD := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&o.Sessions, 200)
	defD(&o.Duration, 10*time.Second)
	def(&o.Window, 16)
	def(&o.Size, 64)
	def(&o.DialConcurrency, 64)
	def(&o.ClaimConcurrency, 16)
	defD(&o.Drain, 15*time.Second)
	switch scenario {
	case "broadcast":
		def(&o.Senders, 1)
	case "held":
		def(&o.Senders, 5)
		def(&o.Recipients, 20)
		def(&o.Held, 20)
		defD(&o.FlipGap, 50*time.Millisecond)
		o.Sessions = o.Senders + o.Recipients
	case "connect":
		def(&o.MeshSize, 100)
		defD(&o.Hold, 5*time.Second)
	}
}

// MeshSizeOr is the size of connect's meshes, or n for one mesh.
func (o Options) MeshSizeOr(n int) int {
	if o.MeshSize > 0 {
		return min(o.MeshSize, n)
	}
	return n
}

// Result is everything one run measured.
type Result struct {
	Scenario string            `json:"scenario"`
	Target   string            `json:"target"` // broker | relay
	Backend  string            `json:"backend"`
	Options  Options           `json:"settings"`
	Broker   map[string]string `json:"broker_settings,omitempty"`
	Started  time.Time         `json:"started_at"`

	Seconds      float64 `json:"load_seconds"`
	Sent         int64   `json:"sent"`
	Throughput   float64 `json:"throughput_msgs_per_sec"` // acked messages per second
	DeliveryRate float64 `json:"deliveries_per_sec"`

	AckLatency verify.Summary `json:"ack_latency"`
	// EndToEnd is send -> push at the last intended recipient; for held it
	// is, per recipient, the flip to idle -> its last held delivery.
	EndToEnd      verify.Summary   `json:"end_to_end_latency"`
	EndToEndLabel string           `json:"end_to_end_label"`
	Counts        verify.Counts    `json:"verification"`
	Decrypt       int64            `json:"decrypt_failures"`
	Early         int64            `json:"early_deliveries,omitempty"`
	CountMismatch int64            `json:"ack_recipient_mismatches"`
	Errors        map[string]int64 `json:"errors_by_code"`
	SystemEvents  map[string]int64 `json:"system_pushes_by_event"`

	Hello *HelloStats `json:"hello,omitempty"`
	RSS   *RSSStats   `json:"broker_rss,omitempty"`

	Baseline *Result `json:"baseline,omitempty"`
	Ratio    float64 `json:"ratio_to_baseline,omitempty"`

	Failures []string `json:"failures"`
}

// HelloStats describes connect's opening phase.
type HelloStats struct {
	Sessions int            `json:"sessions"`
	Meshes   int            `json:"meshes"`
	Seconds  float64        `json:"seconds"`
	Rate     float64        `json:"hellos_per_sec"`
	Latency  verify.Summary `json:"latency"` // dial -> hello_ack
	Dropped  int            `json:"dropped_while_idle"`
}

// RSSStats is the broker's resident memory in MiB.
type RSSStats struct {
	BeforeMB     float64 `json:"before_sessions_mb"`
	PeakMB       float64 `json:"peak_mb"`
	EndMB        float64 `json:"end_mb"`
	PerSessionKB float64 `json:"per_session_kb,omitempty"`
}

// Failed reports whether the run must exit non-zero.
func (r *Result) Failed() bool { return len(r.Failures) > 0 }
