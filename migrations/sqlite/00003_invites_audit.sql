-- Invites (v1 and v2), pending email invites and the hash-chained audit
-- log (invites.md §3-§8). Times are INTEGER milliseconds since the epoch.

-- +goose Up
CREATE TABLE invite (
    id                TEXT PRIMARY KEY,
    mesh_id           TEXT NOT NULL REFERENCES meshes (id),
    code              TEXT, -- NULL allowed; unique where present
    version           INTEGER NOT NULL CHECK (version IN (1, 2)),
    role              TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    max_uses          INTEGER NOT NULL CHECK (max_uses > 0),
    used_count        INTEGER NOT NULL DEFAULT 0 CHECK (used_count >= 0 AND used_count <= max_uses),
    expires_at        INTEGER NOT NULL,
    revoked_at        INTEGER,
    created_by        TEXT NOT NULL, -- pubkey of the admin who minted it
    inviter_name      TEXT NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL,
    capability_v2     TEXT, -- v2: JSON {"canonical","signature"} signed by the owner
    token_hash        TEXT, -- v1: hex sha256 of the token, for /join lookups
    token_sealed      BLOB, -- v1: the token (it embeds the root key), sealed with the data key
    claimed_by_pubkey TEXT, -- last claimer's x25519 key (v2) or ed25519 key (v1)
    preset            TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX invite_code_uq ON invite (code) WHERE code IS NOT NULL;
CREATE UNIQUE INDEX invite_token_hash_uq ON invite (token_hash) WHERE token_hash IS NOT NULL;
CREATE INDEX invite_mesh_idx ON invite (mesh_id, created_at);

CREATE TABLE pending_invite (
    id          TEXT PRIMARY KEY,
    mesh_id     TEXT NOT NULL REFERENCES meshes (id),
    invite_id   TEXT NOT NULL REFERENCES invite (id),
    email       TEXT NOT NULL,
    code        TEXT NOT NULL,
    sent_at     INTEGER,
    send_error  TEXT NOT NULL DEFAULT '',
    accepted_at INTEGER,
    revoked_at  INTEGER,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX pending_invite_code_idx ON pending_invite (code);
CREATE INDEX pending_invite_invite_idx ON pending_invite (invite_id);

-- Append-only; seq is the row's position in its mesh's chain.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    mesh_id   TEXT NOT NULL REFERENCES meshes (id),
    seq       INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    event     TEXT NOT NULL,
    actor     TEXT NOT NULL DEFAULT '',
    details   TEXT NOT NULL DEFAULT '{}', -- canonical JSON, hashed byte for byte
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
-- A second row at the same position would be a fork: refused.
CREATE UNIQUE INDEX audit_log_chain_uq ON audit_log (mesh_id, seq);

-- One row per mesh: the chain head. Writers lock it, so the chain is
-- extended by one writer at a time, and a truncated tail is detectable.
CREATE TABLE audit_heads (
    mesh_id TEXT PRIMARY KEY REFERENCES meshes (id),
    seq     INTEGER NOT NULL,
    hash    TEXT NOT NULL
);

-- +goose Down
DROP TABLE audit_heads;
DROP TABLE audit_log;
DROP TABLE pending_invite;
DROP TABLE invite;
