package broker

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// expiredRetention is how long expired rows stay visible to message_status
// before the sweeper deletes them.
const expiredRetention = 24 * time.Hour

func (b *Broker) serveHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := map[string]any{
		"status": "ok", "db": "up", "version": b.opts.Version,
		"uptime": int64(time.Since(b.startedAt).Seconds()), "backend": b.store.Backend(),
	}
	code := http.StatusOK
	if err := b.store.Ping(ctx); err != nil {
		body["status"], body["db"] = "degraded", "down"
		code = http.StatusServiceUnavailable
	}
	if b.draining.Load() {
		body["status"] = "draining"
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// sweepExpired marks undelivered rows past MESSAGE_TTL expired and deletes
// what has been expired for longer than expiredRetention.
func (b *Broker) sweepExpired() {
	t := time.NewTicker(b.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
		n, err := b.store.ExpireDeliveries(ctx, b.now(), expiredRetention)
		cancel()
		switch {
		case err != nil:
			b.log.Warn("expiring old messages failed", "err", err)
		case n > 0:
			b.log.Info("expired undelivered messages", "rows", n)
		}
	}
}
