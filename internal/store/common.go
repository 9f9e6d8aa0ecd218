package store

import (
	"database/sql"
	"time"
)

// addedAt is a new member's first UpdatedAt: the caller's value, else its
// join time, else now, so that MembersChangedSince always sees the add.
func addedAt(m Member) time.Time {
	switch {
	case !m.UpdatedAt.IsZero():
		return m.UpdatedAt
	case !m.JoinedAt.IsZero():
		return m.JoinedAt
	}
	return time.Now()
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// affectedOne turns "no row matched" into ErrNotFound.
func affectedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
