package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/claudemesh/claudemesh/internal/transcript"
)

// InferOptions turn on status inference from the Claude Code transcript.
type InferOptions struct {
	Home     string        // the user's home, where ~/.claude/projects lives
	Interval time.Duration // transcript poll period; zero: 1 s
	Refresh  time.Duration // re-report working this often; zero: 20 s
}

// inferStatus tails this session's transcript and reports what it implies
// as an "inferred" status on every mesh; the broker lets a fresh hook
// signal win, so this only fills in when hooks are not installed.
func (b *Bridge) inferStatus(ctx context.Context) {
	opt := b.opts.Infer
	w := &transcript.Watcher{
		Dir:       transcript.ProjectDir(opt.Home, b.opts.CWD),
		SessionID: b.opts.SessionID,
		Interval:  opt.Interval,
		Refresh:   opt.Refresh,
		Report: func(ctx context.Context, status string) error {
			var errs []error
			for _, l := range b.links {
				if !l.c.Connected() {
					errs = append(errs, fmt.Errorf("mesh %s is not connected", l.mesh.Slug))
					continue
				}
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := l.c.SetStatus(rctx, status, "inferred")
				cancel()
				if err != nil {
					errs = append(errs, fmt.Errorf("mesh %s: %w", l.mesh.Slug, err))
				}
			}
			b.log.Debug("inferred status", "status", status, "err", errors.Join(errs...))
			return errors.Join(errs...)
		},
	}
	_ = w.Run(ctx) // returns when ctx ends
}
