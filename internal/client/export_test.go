package client

import "context"

// DropAcks makes the client skip client_ack frames, as if they were lost.
func DropAcks(c *Client, drop bool) { c.dropAcks.Store(drop) }

// SetDialGate makes Run call gate before every connection attempt.
func SetDialGate(c *Client, gate func(ctx context.Context) error) { c.dialGate = gate }

// KillConn drops the live socket without a close frame, like a network cut.
func KillConn(c *Client) {
	c.mu.Lock()
	cn := c.cur
	c.mu.Unlock()
	if cn != nil {
		cn.ws.CloseNow()
	}
}

// Pongs counts pings the broker answered.
func Pongs(c *Client) int64 { return c.pongs.Load() }
