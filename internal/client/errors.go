package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

var (
	// ErrUnreachable is wrapped by every failure to reach the broker at
	// all (refused, DNS, TLS, closed before hello_ack): a network problem,
	// not a refusal.
	ErrUnreachable = errors.New("broker unreachable")
	// ErrTimeout is matched (errors.Is) by every RPC that got no reply in time.
	ErrTimeout = errors.New("timed out")
	// ErrConnectionLost is wrapped when the socket dropped while a request
	// waited. A send may or may not have been committed: retry it with the
	// same ClientMessageID, which the broker deduplicates.
	ErrConnectionLost = errors.New("connection to the broker lost")
	// ErrClosed is returned after Close, or after a Dial-mode connection ended.
	ErrClosed = errors.New("client closed")
	// ErrSuperseded means another process resumed this session (close 4000);
	// reconnecting would only take it back and forth.
	ErrSuperseded = errors.New("session taken over by another connection (superseded)")
)

// BrokerError is an error frame from the broker, verbatim.
type BrokerError struct {
	Op      string // what the client was doing: "hello", "send", "list_peers"...
	Code    protocol.Code
	Message string
}

func (e *BrokerError) Error() string {
	return fmt.Sprintf("%s refused by broker: %s: %s", e.Op, e.Code, e.Message)
}

// Fatal reports whether retrying the hello cannot help: the identity is
// wrong or revoked, or the hello itself is malformed.
func (e *BrokerError) Fatal() bool {
	switch e.Code {
	case protocol.CodeUnauthorized, protocol.CodeBadSignature, protocol.CodeBadSessionSignature, protocol.CodeMalformed:
		return true
	}
	return false
}

// timeoutError names the reply it waited for, so a caller never mistakes a
// silent broker for an empty answer.
type timeoutError struct {
	typ     string
	d       time.Duration
	offline bool // no connection came up in time, so nothing was sent
}

func (e *timeoutError) Error() string {
	if e.offline {
		return fmt.Sprintf("timed out waiting for %s reply after %v (not connected to the broker)", e.typ, e.d)
	}
	return fmt.Sprintf("timed out waiting for %s reply after %v", e.typ, e.d)
}

// errOffline marks a wait for a connection that ran out of time.
var errOffline = errors.New("not connected")

func (e *timeoutError) Is(target error) bool { return target == ErrTimeout }

// isFatal reports whether Run must stop instead of reconnecting.
func isFatal(err error) bool {
	var be *BrokerError
	if errors.As(err, &be) {
		return be.Fatal()
	}
	return errors.Is(err, ErrSuperseded) || errors.Is(err, ErrClosed)
}
