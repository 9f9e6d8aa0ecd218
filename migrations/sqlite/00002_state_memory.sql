-- Shared key-value state and searchable memory (protocol.md §6).
-- Both are plaintext on the broker by design.

-- +goose Up
CREATE TABLE state (
    mesh_id    TEXT NOT NULL REFERENCES meshes (id),
    key        TEXT NOT NULL,
    value      TEXT NOT NULL, -- the client's JSON, byte for byte
    updated_by TEXT NOT NULL DEFAULT '',
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (mesh_id, key)
) WITHOUT ROWID;

-- rid links a memory to its full-text row (memories_fts.rowid).
CREATE TABLE memories (
    rid           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    mesh_id       TEXT NOT NULL REFERENCES meshes (id),
    content       TEXT NOT NULL,
    tags          TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    remembered_by TEXT NOT NULL DEFAULT '',
    remembered_at INTEGER NOT NULL
);
CREATE INDEX memories_mesh_idx ON memories (mesh_id, remembered_at);

-- Written in the same transaction as memories; porter stemming matches
-- the english configuration of the PostgreSQL backend.
CREATE VIRTUAL TABLE memories_fts USING fts5 (content, tags, tokenize = 'porter unicode61');

-- +goose Down
DROP TABLE memories_fts;
DROP TABLE memories;
DROP TABLE state;
