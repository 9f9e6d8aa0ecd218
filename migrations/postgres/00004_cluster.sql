-- Clustering (issue 8): several brokers share this database. Each process
-- registers a node and heartbeats it; presences name their node and carry
-- what list_peers shows on other nodes; hello signatures are remembered
-- store-wide so a hello replayed to another node is refused.

-- +goose Up
CREATE TABLE nodes (
    id         text PRIMARY KEY,
    started_at timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    dead_at    timestamptz -- set once by the node that noticed the death
);

ALTER TABLE presences
    ADD COLUMN status        text NOT NULL DEFAULT 'idle',
    ADD COLUMN status_source text NOT NULL DEFAULT 'manual',
    ADD COLUMN summary       text NOT NULL DEFAULT '',
    ADD COLUMN groups        jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN capabilities  jsonb NOT NULL DEFAULT '[]';
-- Serves "open presences of a node" (takeover, catch-up, peer lists).
CREATE INDEX presences_open_idx ON presences (node_id) WHERE ended_at IS NULL;

CREATE TABLE hello_replays (
    key        text PRIMARY KEY, -- sha256 hex of pubkey|signature
    expires_at timestamptz NOT NULL
);
CREATE INDEX hello_replays_expires_idx ON hello_replays (expires_at);

-- +goose Down
DROP TABLE hello_replays;
DROP INDEX presences_open_idx;
ALTER TABLE presences
    DROP COLUMN capabilities,
    DROP COLUMN groups,
    DROP COLUMN summary,
    DROP COLUMN status_source,
    DROP COLUMN status;
DROP TABLE nodes;
