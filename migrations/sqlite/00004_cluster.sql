-- Node registry and shared presence state (issue 8). SQLite serves one
-- broker per data directory, so these tables only ever hold one live node;
-- they keep the two backends' schemas and semantics alike.

-- +goose Up
CREATE TABLE nodes (
    id         TEXT PRIMARY KEY,
    started_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    dead_at    INTEGER
);

ALTER TABLE presences ADD COLUMN status TEXT NOT NULL DEFAULT 'idle';
ALTER TABLE presences ADD COLUMN status_source TEXT NOT NULL DEFAULT 'manual';
ALTER TABLE presences ADD COLUMN summary TEXT NOT NULL DEFAULT '';
ALTER TABLE presences ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';
ALTER TABLE presences ADD COLUMN capabilities TEXT NOT NULL DEFAULT '[]';
CREATE INDEX presences_open_idx ON presences (node_id) WHERE ended_at IS NULL;

CREATE TABLE hello_replays (
    key        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX hello_replays_expires_idx ON hello_replays (expires_at);

-- +goose Down
DROP TABLE hello_replays;
DROP INDEX presences_open_idx;
ALTER TABLE presences DROP COLUMN capabilities;
ALTER TABLE presences DROP COLUMN groups;
ALTER TABLE presences DROP COLUMN summary;
ALTER TABLE presences DROP COLUMN status_source;
ALTER TABLE presences DROP COLUMN status;
DROP TABLE nodes;
