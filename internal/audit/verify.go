package audit

import (
	"context"
	"fmt"

	"github.com/claudemesh/claudemesh/internal/store"
)

// Result is the outcome of walking one mesh's chain.
type Result struct {
	Rows   int64 // rows checked
	Broken *Break
}

// Break names the first row that does not fit the chain.
type Break struct {
	Seq    int64 // chain position; 0 when the break is the head row
	ID     int64
	Reason string
}

// Verify walks meshID's chain from the first row: each row's prev_hash
// must be the previous row's hash, its seq the next position, and its hash
// must match its content. The head row must name the last row, so a
// deleted tail is reported too.
func Verify(ctx context.Context, st store.Store, meshID string) (Result, error) {
	var res Result
	prev := store.AuditRecord{Hash: store.AuditGenesis}
	for {
		page, err := st.AuditAfter(ctx, meshID, prev.Seq, 1000)
		if err != nil {
			return res, err
		}
		for _, r := range page {
			if b := check(prev, r); b != nil {
				res.Broken = b
				return res, nil
			}
			res.Rows++
			prev = r
		}
		if len(page) < 1000 {
			break
		}
	}
	head, err := st.GetAuditHead(ctx, meshID)
	if err != nil {
		return res, err
	}
	if head.Seq != prev.Seq || head.Hash != prev.Hash {
		res.Broken = &Break{Seq: prev.Seq + 1, Reason: fmt.Sprintf(
			"the chain head records row %d but the log ends at row %d: rows were removed or the head was altered", head.Seq, prev.Seq)}
	}
	return res, nil
}

func check(prev, r store.AuditRecord) *Break {
	switch {
	case r.Seq != prev.Seq+1:
		return &Break{Seq: prev.Seq + 1, ID: r.ID, Reason: fmt.Sprintf("row %d is missing (next row found is %d)", prev.Seq+1, r.Seq)}
	case r.PrevHash != prev.Hash:
		return &Break{Seq: r.Seq, ID: r.ID, Reason: "prev_hash does not match the previous row's hash"}
	}
	want, err := store.AuditHash(r)
	if err != nil {
		return &Break{Seq: r.Seq, ID: r.ID, Reason: err.Error()}
	}
	if want != r.Hash {
		return &Break{Seq: r.Seq, ID: r.ID, Reason: "hash does not match the row's content: the row was altered"}
	}
	return nil
}
