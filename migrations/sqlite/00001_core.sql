-- Core schema of the embedded SQLite backend.
-- Times are INTEGER milliseconds since the epoch (UTC). Ids are TEXT so the
-- invites table of a later migration can reference them uniformly.

-- +goose Up
CREATE TABLE meshes (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    slug         TEXT NOT NULL, -- not unique by design
    owner_pubkey TEXT NOT NULL,
    root_key     BLOB,
    created_at   INTEGER NOT NULL,
    archived_at  INTEGER
);
CREATE INDEX meshes_slug_idx ON meshes (slug);

CREATE TABLE members (
    id           TEXT PRIMARY KEY,
    mesh_id      TEXT NOT NULL REFERENCES meshes (id),
    pubkey       TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    role         TEXT NOT NULL,
    groups       TEXT NOT NULL DEFAULT '[]', -- JSON array of {name, role}
    joined_at    INTEGER NOT NULL,
    revoked_at   INTEGER,
    updated_at   INTEGER NOT NULL
);
-- A pubkey is unique among the live members of a mesh; a revoked member's
-- key may come back as a new member.
CREATE UNIQUE INDEX members_live_pubkey_uq ON members (mesh_id, pubkey) WHERE revoked_at IS NULL;
CREATE INDEX members_mesh_idx ON members (mesh_id, joined_at);
CREATE INDEX members_updated_idx ON members (updated_at);

CREATE TABLE presences (
    id             TEXT PRIMARY KEY,
    mesh_id        TEXT NOT NULL REFERENCES meshes (id),
    member_id      TEXT NOT NULL REFERENCES members (id),
    session_id     TEXT NOT NULL,
    session_pubkey TEXT NOT NULL DEFAULT '',
    node_id        TEXT NOT NULL DEFAULT '',
    display_name   TEXT NOT NULL DEFAULT '',
    pid            INTEGER NOT NULL DEFAULT 0,
    cwd            TEXT NOT NULL DEFAULT '',
    hostname       TEXT NOT NULL DEFAULT '',
    peer_type      TEXT NOT NULL DEFAULT '',
    channel        TEXT NOT NULL DEFAULT '',
    model          TEXT NOT NULL DEFAULT '',
    ephemeral      INTEGER NOT NULL DEFAULT 0,
    connected_at   INTEGER NOT NULL,
    ended_at       INTEGER
);
CREATE INDEX presences_member_idx ON presences (member_id, session_id);

-- AUTOINCREMENT: seq values are never reused, even after a sweep deleted
-- the newest rows, so seq stays a store-wide order.
CREATE TABLE messages (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    id                   TEXT NOT NULL UNIQUE,
    mesh_id              TEXT NOT NULL REFERENCES meshes (id),
    sender_member_id     TEXT NOT NULL, -- no FK: broker-originated messages may have no member
    sender_session_id    TEXT NOT NULL DEFAULT '',
    sender_pubkey        TEXT NOT NULL,
    sender_member_pubkey TEXT NOT NULL,
    sender_name          TEXT NOT NULL DEFAULT '',
    client_message_id    TEXT, -- NULL: none, or superseded by a newer use
    target_spec          TEXT NOT NULL,
    priority             TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    grp                  TEXT NOT NULL DEFAULT '',
    enc                  TEXT NOT NULL,
    nonce                TEXT NOT NULL,
    ciphertext           TEXT NOT NULL,
    recipient_count      INTEGER NOT NULL, -- answered again on a duplicate
    created_at           INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL
);
-- At most one live idempotency key per sender: an older use is cleared
-- before the key is reused.
CREATE UNIQUE INDEX messages_client_id_uq ON messages (sender_member_id, client_message_id)
    WHERE client_message_id IS NOT NULL;
CREATE INDEX messages_expires_idx ON messages (expires_at);

CREATE TABLE deliveries (
    message_seq      INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,
    member_id        TEXT NOT NULL REFERENCES members (id),
    session_id       TEXT NOT NULL DEFAULT '', -- '': member-bound, claimed by the next session
    -- pinned: encrypted to this session's own key; never handed to another session.
    pinned           INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
    recipient_pubkey TEXT NOT NULL,
    recipient_name   TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'expired')),
    delivered_at     INTEGER,
    PRIMARY KEY (message_seq, member_id, session_id),
    -- A member-bound row goes to whichever session comes next: never pinned.
    CONSTRAINT deliveries_pinned_session_ck CHECK (pinned = 0 OR session_id <> '')
) WITHOUT ROWID;
-- Serves "pending rows of (member, session) in seq order", the claim and the release.
CREATE INDEX deliveries_pending_idx ON deliveries (member_id, session_id, message_seq)
    WHERE status = 'pending';

-- +goose Down
DROP TABLE deliveries;
DROP TABLE messages;
DROP TABLE presences;
DROP TABLE members;
DROP TABLE meshes;
