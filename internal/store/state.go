package store

// StateStore holds shared key-value state and searchable memory
// (protocol.md §6). Its methods arrive with the presence/status work.
type StateStore interface{}
