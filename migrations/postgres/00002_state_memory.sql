-- Shared key-value state and searchable memory (protocol.md §6).
-- Both are plaintext on the broker by design.

-- +goose Up
CREATE TABLE state (
    mesh_id    text NOT NULL REFERENCES meshes (id),
    key        text NOT NULL,
    value      text NOT NULL, -- the client's JSON, byte for byte (jsonb would reorder keys)
    updated_by text NOT NULL DEFAULT '',
    version    bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (mesh_id, key)
);

CREATE TABLE memories (
    id            text PRIMARY KEY,
    mesh_id       text NOT NULL REFERENCES meshes (id),
    content       text NOT NULL,
    tags          jsonb NOT NULL DEFAULT '[]', -- array of strings
    tags_text     text NOT NULL DEFAULT '',    -- tags joined by spaces, for the search vector
    remembered_by text NOT NULL DEFAULT '',
    remembered_at timestamptz NOT NULL,
    -- Tags weigh more than content, as in the SQLite backend's bm25 weights.
    search        tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', tags_text), 'A') ||
        setweight(to_tsvector('english', content), 'B')) STORED
);
CREATE INDEX memories_mesh_idx ON memories (mesh_id, remembered_at);
CREATE INDEX memories_search_idx ON memories USING gin (search);

-- +goose Down
DROP TABLE memories;
DROP TABLE state;
