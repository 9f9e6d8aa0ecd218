package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

func (a *App) stateCmd() *cobra.Command {
	st := &cobra.Command{
		Use:   "state",
		Short: "Shared key-value state of a mesh (plaintext on the broker)",
		Args:  noArgs,
	}
	get := &cobra.Command{
		Use: "get <key>", Short: "Print a key's value (null when missing)", Args: exactArgs(1, "key"),
		RunE: func(cmd *cobra.Command, args []string) error { return a.stateGet(cmd.Context(), args[0]) },
	}
	var ifVersion int64
	set := &cobra.Command{
		Use:   "set <key> <value>",
		Short: "Set a key; the value is parsed as JSON when it is valid JSON, else stored as a string",
		Args:  exactArgs(2, "key", "value"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var iv *int64
			if cmd.Flags().Changed("if-version") {
				iv = &ifVersion
			}
			return a.stateSet(cmd.Context(), args[0], args[1], iv)
		},
	}
	set.Flags().Int64Var(&ifVersion, "if-version", 0, "write only if the key is at this version (0: only if it does not exist)")
	list := &cobra.Command{
		Use: "list", Short: "List every key, sorted", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.stateList(cmd.Context()) },
	}
	del := &cobra.Command{
		Use: "delete <key>", Short: "Delete a key", Args: exactArgs(1, "key"),
		RunE: func(cmd *cobra.Command, args []string) error { return a.stateDelete(cmd.Context(), args[0]) },
	}
	for _, c := range []*cobra.Command{get, set, list, del} {
		a.meshFlag(c)
		a.jsonFlag(c)
		st.AddCommand(c)
	}
	return st
}

// stateValue is the CLI's reading of a value argument: JSON when it parses
// (42, true, {"a":1}, "quoted"), otherwise the text itself as a string.
func stateValue(arg string) json.RawMessage {
	if trimmed := strings.TrimSpace(arg); json.Valid([]byte(trimmed)) {
		return json.RawMessage(trimmed)
	}
	b, _ := json.Marshal(arg)
	return b
}

func (a *App) stateGet(ctx context.Context, key string) error {
	return a.withSession(ctx, func(s *meshSession) error {
		var r protocol.StateResult
		if err := s.request(ctx, map[string]any{"type": protocol.TypeGetState, "key": key}, protocol.TypeStateResult, &r); err != nil {
			return fmt.Errorf("getting state %q on mesh %s: %w", key, s.mesh.Slug, err)
		}
		if a.jsonOut {
			return a.printJSON(r.StateEntry)
		}
		fmt.Fprintln(a.Stdout, valueText(r.Value))
		if r.Version > 0 {
			fmt.Fprintln(a.Stderr, a.errUI().dim.Render(fmt.Sprintf("version %d, set by %s at %s", r.Version, r.UpdatedBy, r.UpdatedAt)))
		}
		return nil
	})
}

func (a *App) stateSet(ctx context.Context, key, value string, ifVersion *int64) error {
	return a.withSession(ctx, func(s *meshSession) error {
		f := map[string]any{"type": protocol.TypeSetState, "key": key, "value": stateValue(value)}
		if ifVersion != nil {
			f["ifVersion"] = *ifVersion
		}
		var ok protocol.OK
		if err := s.request(ctx, f, protocol.TypeOK, &ok); err != nil {
			return fmt.Errorf("setting state %q on mesh %s: %w", key, s.mesh.Slug, err)
		}
		var version int64
		if ok.Version != nil {
			version = *ok.Version
		}
		if a.jsonOut {
			return a.printJSON(map[string]any{"key": key, "version": version})
		}
		fmt.Fprintf(a.Stdout, "%s %s (version %d)\n", a.ui().ok.Render("Set"), key, version)
		return nil
	})
}

func (a *App) stateList(ctx context.Context) error {
	return a.withSession(ctx, func(s *meshSession) error {
		var r protocol.StateList
		if err := s.request(ctx, map[string]any{"type": protocol.TypeListState}, protocol.TypeStateList, &r); err != nil {
			return fmt.Errorf("listing state on mesh %s: %w", s.mesh.Slug, err)
		}
		if r.Entries == nil {
			r.Entries = []protocol.StateEntry{}
		}
		if a.jsonOut {
			return a.printJSON(r.Entries)
		}
		if len(r.Entries) == 0 {
			fmt.Fprintln(a.Stdout, a.ui().dim.Render("No shared state on mesh "+s.mesh.Slug+"."))
			return nil
		}
		rows := make([][]string, 0, len(r.Entries))
		for _, e := range r.Entries {
			rows = append(rows, []string{e.Key, cellText(string(e.Value), 60), strconv.FormatInt(e.Version, 10), termSafe(e.UpdatedBy), e.UpdatedAt})
		}
		a.ui().table(a.Stdout, []string{"KEY", "VALUE", "VERSION", "BY", "AT"}, rows)
		return nil
	})
}

func (a *App) stateDelete(ctx context.Context, key string) error {
	return a.withSession(ctx, func(s *meshSession) error {
		if err := s.request(ctx, map[string]any{"type": protocol.TypeDeleteState, "key": key}, protocol.TypeOK, nil); err != nil {
			return fmt.Errorf("deleting state %q on mesh %s: %w", key, s.mesh.Slug, err)
		}
		if a.jsonOut {
			return a.printJSON(map[string]any{"key": key, "deleted": true})
		}
		fmt.Fprintf(a.Stdout, "%s %s\n", a.ui().ok.Render("Deleted"), key)
		return nil
	})
}

// valueText prints a string value bare and anything else as JSON.
func valueText(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	if len(v) == 0 {
		return "null"
	}
	return string(v)
}

func (a *App) rememberCmd() *cobra.Command {
	var tags string
	cmd := &cobra.Command{
		Use:   "remember <content>",
		Short: "Store a memory the whole mesh can recall (plaintext on the broker)",
		Args:  exactArgs(1, "content"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd.Context(), func(s *meshSession) error {
				f := map[string]any{"type": protocol.TypeRemember, "content": args[0]}
				if t := splitTags(tags); len(t) > 0 {
					f["tags"] = t
				}
				var r protocol.MemoryStored
				if err := s.request(cmd.Context(), f, protocol.TypeMemoryStored, &r); err != nil {
					return fmt.Errorf("remembering on mesh %s: %w", s.mesh.Slug, err)
				}
				if a.jsonOut {
					return a.printJSON(map[string]string{"id": r.ID})
				}
				fmt.Fprintf(a.Stdout, "%s %s\n", a.ui().ok.Render("Remembered"), r.ID)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&tags, "tags", "", "comma-separated tags (a,b)")
	a.meshFlag(cmd)
	a.jsonFlag(cmd)
	return cmd
}

func splitTags(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func (a *App) recallCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "recall <query>",
		Short: "Search the mesh's memories, most relevant first",
		Args:  exactArgs(1, "query"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return usagef("--limit must not be negative")
			}
			return a.withSession(cmd.Context(), func(s *meshSession) error {
				f := map[string]any{"type": protocol.TypeRecall, "query": args[0]}
				if limit > 0 {
					f["limit"] = limit
				}
				var r protocol.MemoryResults
				if err := s.request(cmd.Context(), f, protocol.TypeMemoryResults, &r); err != nil {
					return fmt.Errorf("recalling %q on mesh %s: %w", args[0], s.mesh.Slug, err)
				}
				if r.Memories == nil {
					r.Memories = []protocol.MemoryResult{}
				}
				if a.jsonOut {
					return a.printJSON(r.Memories)
				}
				if len(r.Memories) == 0 {
					fmt.Fprintln(a.Stdout, a.ui().dim.Render("Nothing matches."))
					return nil
				}
				rows := make([][]string, 0, len(r.Memories))
				for _, m := range r.Memories {
					rows = append(rows, []string{m.ID, cellText(m.Content, 60), termSafe(strings.Join(m.Tags, ",")), termSafe(m.RememberedBy), m.RememberedAt})
				}
				a.ui().table(a.Stdout, []string{"ID", "CONTENT", "TAGS", "BY", "AT"}, rows)
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many results (broker default 10, at most 100)")
	a.meshFlag(cmd)
	a.jsonFlag(cmd)
	return cmd
}

func (a *App) forgetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "forget <id>",
		Short: "Delete a memory by id",
		Args:  exactArgs(1, "id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd.Context(), func(s *meshSession) error {
				if err := s.request(cmd.Context(), map[string]any{"type": protocol.TypeForget, "memoryId": args[0]}, protocol.TypeOK, nil); err != nil {
					return fmt.Errorf("forgetting memory %s on mesh %s: %w", args[0], s.mesh.Slug, err)
				}
				if a.jsonOut {
					return a.printJSON(map[string]any{"id": args[0], "forgotten": true})
				}
				fmt.Fprintf(a.Stdout, "%s %s\n", a.ui().ok.Render("Forgot"), args[0])
				return nil
			})
		},
	}
	a.meshFlag(cmd)
	a.jsonFlag(cmd)
	return cmd
}
