package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// Run keeps the session connected until ctx ends, Close is called, or the
// broker refuses the identity for good (unauthorized, bad_signature,
// bad_session_signature, malformed: a *BrokerError) or another process
// takes the session over (ErrSuperseded). Every reconnect re-signs the hello
// with the same SessionID and session key, so the broker resumes the
// session and pushes again whatever was not acked. Between attempts it waits
// a jittered exponential backoff (BackoffMin..BackoffMax).
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("client: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.life, cancel) // Close ends Run
	defer stop()
	err := c.loop(ctx)
	c.finish(err)
	return err
}

func (c *Client) loop(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		var err error
		if c.dialGate != nil {
			err = c.dialGate(ctx)
		}
		if err == nil {
			var cn *conn
			if cn, err = c.connect(ctx); err == nil {
				attempt = 0
				err = c.serve(ctx, cn)
			}
		}
		if c.isClosed() {
			return ErrClosed
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if isFatal(err) {
			c.log.Error("giving up on the broker", "err", err)
			return err
		}
		d := backoff(c.cfg.BackoffMin, c.cfg.BackoffMax, attempt)
		c.log.Warn("reconnecting", "in", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// serve keeps cn alive with pings until it ends, and returns why.
func (c *Client) serve(ctx context.Context, cn *conn) error {
	t := time.NewTicker(c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-cn.done:
			cn.mu.Lock()
			defer cn.mu.Unlock()
			return cn.err
		case <-ctx.Done():
			cn.close()
			<-cn.done
			return ctx.Err()
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, c.cfg.RPCTimeout)
			id := c.nextID("ping")
			_, err := cn.call(pctx, id, map[string]any{"type": protocol.TypePing, "_reqId": id})
			cancel()
			if err == nil {
				c.pongs.Add(1)
			}
			if err != nil && ctx.Err() == nil {
				c.log.Warn("ping failed; dropping the connection", "err", err)
				cn.ws.CloseNow()
			}
		}
	}
}

// backoff is min*2^attempt capped at max, with "equal jitter": a random
// point in its upper half, so clients restarted together spread out.
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	d := hi
	if attempt < 30 && lo<<attempt < hi && lo<<attempt > 0 {
		d = lo << attempt
	}
	return d/2 + rand.N(d/2+1)
}
