package store

// InviteStore holds invites, pending email invites, mesh administration and
// the hash-chained audit log (invites.md). Its methods arrive with the
// invites work.
type InviteStore interface{}
