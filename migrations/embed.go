// Package migrations embeds the schema migrations of each store backend.
// They are applied with goose at `serve` and by `claudemesh-broker migrate`.
package migrations

import "embed"

// SQLite holds the migrations for the embedded SQLite backend (dir "sqlite").
//
//go:embed sqlite/*.sql
var SQLite embed.FS

// Postgres holds the migrations for the PostgreSQL backend (dir "postgres").
//
//go:embed postgres/*.sql
var Postgres embed.FS
