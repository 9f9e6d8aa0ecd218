package cli

import (
	"errors"
	"fmt"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/client"
)

// Exit codes (cli.md): one table, applied in one place (ExitCode).
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitRefused     = 3 // authentication or invite refused
	ExitUnreachable = 4 // broker unreachable
)

// usageError is a bad command line: unknown command or flag, wrong args.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// refusedError is a refusal the CLI itself decides (a consent declined, a
// tampered #fp fragment): exit 3 like a broker refusal.
type refusedError struct{ err error }

func (e refusedError) Error() string { return e.err.Error() }
func (e refusedError) Unwrap() error { return e.err }

func refusedf(format string, args ...any) error { return refusedError{fmt.Errorf(format, args...)} }

// childExitError ends `launch` with Claude Code's own exit code, which may
// be any number; Claude Code has already said why, so nothing is printed.
type childExitError struct{ code int }

func (e childExitError) Error() string { return fmt.Sprintf("claude exited with code %d", e.code) }

// ExitCode maps an error to the documented exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ce childExitError
	if errors.As(err, &ce) {
		return ce.code
	}
	var ue usageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	if errors.Is(err, brokerapi.ErrUnreachable) || errors.Is(err, client.ErrUnreachable) {
		return ExitUnreachable
	}
	var re refusedError
	if errors.As(err, &re) {
		return ExitRefused
	}
	var ae *brokerapi.Error
	if errors.As(err, &ae) && ae.Refused() {
		return ExitRefused
	}
	var be *client.BrokerError
	if errors.As(err, &be) && be.Fatal() {
		return ExitRefused
	}
	return ExitFailure
}
