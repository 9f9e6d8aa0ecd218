package testkit

import (
	"errors"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// FromAddr returns an HTTP client whose connections leave from the local
// IP ip (any 127.x.y.z works on Linux loopback), so a test can act as
// several client addresses against per-address limits.
func FromAddr(ip string) *http.Client {
	c := fromAddr(ip)
	c.Timeout = 30 * time.Second
	return c
}

// DialFrom returns dial options that connect from the local IP ip (the
// WebSocket dialer wants a client without Timeout; the dial's context
// bounds it).
func DialFrom(ip string) *websocket.DialOptions {
	return &websocket.DialOptions{HTTPClient: fromAddr(ip)}
}

func fromAddr(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// SmallReceiveBuffer returns dial options whose socket has a 4 KiB
// receive buffer (no autotuning), so a client that stops reading backs
// the broker up after little data instead of megabytes of kernel buffer.
func SmallReceiveBuffer() *websocket.DialOptions {
	d := &net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	return &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}}
}
