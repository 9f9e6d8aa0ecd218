package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/client"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// skewLimit is where the CLI starts to call a clock wrong: half the broker's
// 60 s hello window, so a drifting clock is caught before hellos fail.
const skewLimit = 30 * time.Second

// probe is what `status` and `doctor` learn about one mesh's broker.
type probe struct {
	Mesh      string   `json:"mesh"`
	MeshID    string   `json:"meshId"`
	Broker    string   `json:"broker"`
	Reachable bool     `json:"reachable"`
	Health    string   `json:"health,omitempty"` // ok|degraded
	Version   string   `json:"brokerVersion,omitempty"`
	SkewMs    *int64   `json:"clockSkewMs,omitempty"` // broker minus local, ±500 ms (Date has 1 s resolution)
	Hello     bool     `json:"helloAccepted"`
	Role      string   `json:"role,omitempty"`
	LatencyMs *float64 `json:"latencyMs,omitempty"` // one ping round trip on the WebSocket
	Error     string   `json:"error,omitempty"`

	reachErr error // why /health got no answer
	helloErr error // why the hello failed
}

// probeMesh asks the broker's /health (reachability, clock from the Date
// header), then says hello and times one ping. It never returns an error:
// every failure is recorded in the probe.
func (a *App) probeMesh(ctx context.Context, f *cliconfig.File, m *cliconfig.Mesh) probe {
	p := probe{Mesh: m.Slug, MeshID: m.MeshID, Broker: m.BrokerURL}
	a.probeHealth(ctx, &p)
	if p.reachErr != nil {
		p.Error = p.reachErr.Error()
		return p
	}
	c, _, err := a.dial(ctx, m, f)
	if err != nil {
		p.helloErr, p.Error = err, err.Error()
		return p
	}
	defer c.Close()
	p.Hello, p.Role = true, c.HelloAck().Role
	start := time.Now()
	reply, err := c.Request(ctx, map[string]any{"type": protocol.TypePing})
	switch {
	case err != nil:
		p.Error = fmt.Sprintf("ping after hello: %v", err)
		return p
	case reply["type"] != protocol.TypePong:
		p.Error = fmt.Sprintf("ping after hello: the broker answered %q, not pong", reply["type"])
		return p
	}
	ms := float64(time.Since(start).Microseconds()) / 1000
	p.LatencyMs = &ms
	return p
}

func (a *App) probeHealth(ctx context.Context, p *probe) {
	api, err := brokerapi.New(p.Broker)
	if err != nil {
		p.reachErr = err
		return
	}
	ctx, cancel := context.WithTimeout(ctx, a.rpcTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.Base+"/health", nil)
	if err != nil {
		p.reachErr = err
		return
	}
	sent := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.reachErr = fmt.Errorf("%w at %s: %w", brokerapi.ErrUnreachable, api.Base, err)
		return
	}
	got := time.Now()
	defer resp.Body.Close()
	var h brokerapi.Health
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&h)
	p.Reachable, p.Version, p.Health = true, h.Version, "ok"
	if resp.StatusCode != http.StatusOK {
		p.Health = "degraded"
	}
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		// Date is truncated to the second: its middle is the best estimate,
		// compared with the middle of the round trip.
		local := sent.Add(got.Sub(sent) / 2)
		skew := d.Add(500 * time.Millisecond).Sub(local).Milliseconds()
		p.SkewMs = &skew
	}
}

// unreachable reports whether the probe never got an answer from the broker.
func (p probe) unreachable() bool {
	return errors.Is(p.reachErr, brokerapi.ErrUnreachable) || errors.Is(p.helloErr, client.ErrUnreachable)
}

// skewed reports a clock off by more than skewLimit.
func (p probe) skewed() bool {
	return p.SkewMs != nil && time.Duration(abs(*p.SkewMs))*time.Millisecond > skewLimit
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func (p probe) skewText() string {
	if p.SkewMs == nil {
		return "unknown"
	}
	return fmt.Sprintf("%+.1fs", float64(*p.SkewMs)/1000)
}

// skewSentence says which clock is ahead, in words.
func (p probe) skewSentence() string {
	if p.SkewMs == nil {
		return "the clock skew is unknown"
	}
	secs := float64(abs(*p.SkewMs)) / 1000
	if *p.SkewMs < 0 {
		return fmt.Sprintf("the broker's clock is %.1f s behind this machine's", secs)
	}
	return fmt.Sprintf("the broker's clock is %.1f s ahead of this machine's", secs)
}
