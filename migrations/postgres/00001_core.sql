-- Core schema of the PostgreSQL backend. Ids are text so the invites table
-- of a later migration can reference them uniformly. Times are timestamptz,
-- written truncated to milliseconds.

-- +goose Up
CREATE TABLE meshes (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    slug         text NOT NULL, -- not unique by design
    owner_pubkey text NOT NULL,
    root_key     bytea,
    created_at   timestamptz NOT NULL,
    archived_at  timestamptz
);
CREATE INDEX meshes_slug_idx ON meshes (slug);

CREATE TABLE members (
    id           text PRIMARY KEY,
    mesh_id      text NOT NULL REFERENCES meshes (id),
    pubkey       text NOT NULL,
    display_name text NOT NULL DEFAULT '',
    role         text NOT NULL,
    groups       jsonb NOT NULL DEFAULT '[]', -- array of {name, role}
    joined_at    timestamptz NOT NULL,
    revoked_at   timestamptz,
    updated_at   timestamptz NOT NULL
);
-- A pubkey is unique among the live members of a mesh; a revoked member's
-- key may come back as a new member.
CREATE UNIQUE INDEX members_live_pubkey_uq ON members (mesh_id, pubkey) WHERE revoked_at IS NULL;
CREATE INDEX members_mesh_idx ON members (mesh_id, joined_at);
CREATE INDEX members_updated_idx ON members (updated_at);

CREATE TABLE presences (
    id             text PRIMARY KEY,
    mesh_id        text NOT NULL REFERENCES meshes (id),
    member_id      text NOT NULL REFERENCES members (id),
    session_id     text NOT NULL,
    session_pubkey text NOT NULL DEFAULT '',
    node_id        text NOT NULL DEFAULT '',
    display_name   text NOT NULL DEFAULT '',
    pid            bigint NOT NULL DEFAULT 0,
    cwd            text NOT NULL DEFAULT '',
    hostname       text NOT NULL DEFAULT '',
    peer_type      text NOT NULL DEFAULT '',
    channel        text NOT NULL DEFAULT '',
    model          text NOT NULL DEFAULT '',
    ephemeral      boolean NOT NULL DEFAULT false,
    connected_at   timestamptz NOT NULL,
    ended_at       timestamptz
);
CREATE INDEX presences_member_idx ON presences (member_id, session_id);

-- seq comes from the bigserial's sequence; CommitMessages draws the values
-- itself (nextval) so that seq order is the batch order.
CREATE TABLE messages (
    seq                  bigserial PRIMARY KEY,
    id                   text NOT NULL UNIQUE,
    mesh_id              text NOT NULL REFERENCES meshes (id),
    sender_member_id     text NOT NULL, -- no FK: broker-originated messages may have no member
    sender_session_id    text NOT NULL DEFAULT '',
    sender_pubkey        text NOT NULL,
    sender_member_pubkey text NOT NULL,
    sender_name          text NOT NULL DEFAULT '',
    client_message_id    text, -- NULL: none, or superseded by a newer use
    target_spec          text NOT NULL,
    priority             text NOT NULL,
    kind                 text NOT NULL,
    grp                  text NOT NULL DEFAULT '',
    enc                  text NOT NULL,
    nonce                text NOT NULL,
    ciphertext           text NOT NULL,
    recipient_count      integer NOT NULL, -- answered again on a duplicate
    created_at           timestamptz NOT NULL,
    expires_at           timestamptz NOT NULL
);
-- At most one live idempotency key per sender: an older use is cleared
-- before the key is reused.
CREATE UNIQUE INDEX messages_client_id_uq ON messages (sender_member_id, client_message_id)
    WHERE client_message_id IS NOT NULL;
CREATE INDEX messages_expires_idx ON messages (expires_at);

CREATE TABLE deliveries (
    message_seq      bigint NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,
    member_id        text NOT NULL REFERENCES members (id),
    session_id       text NOT NULL DEFAULT '', -- '': member-bound, claimed by the next session
    -- pinned: encrypted to this session's own key; never handed to another session.
    pinned           boolean NOT NULL DEFAULT false,
    recipient_pubkey text NOT NULL,
    recipient_name   text NOT NULL DEFAULT '',
    status           text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'expired')),
    delivered_at     timestamptz,
    PRIMARY KEY (message_seq, member_id, session_id),
    -- A member-bound row goes to whichever session comes next: never pinned.
    CONSTRAINT deliveries_pinned_session_ck CHECK (NOT pinned OR session_id <> '')
);
-- Serves "pending rows of (member, session) in seq order", the claim and the release.
CREATE INDEX deliveries_pending_idx ON deliveries (member_id, session_id, message_seq)
    WHERE status = 'pending';

-- +goose Down
DROP TABLE deliveries;
DROP TABLE messages;
DROP TABLE presences;
DROP TABLE members;
DROP TABLE meshes;
