-- Invites (v1 and v2), pending email invites and the hash-chained audit
-- log (invites.md §3-§8). Times are timestamptz, written truncated to milliseconds.

-- +goose Up
CREATE TABLE invite (
    id                text PRIMARY KEY,
    mesh_id           text NOT NULL REFERENCES meshes (id),
    code              text, -- NULL allowed; unique where present
    version           integer NOT NULL CHECK (version IN (1, 2)),
    role              text NOT NULL CHECK (role IN ('admin', 'member')),
    max_uses          integer NOT NULL CHECK (max_uses > 0),
    used_count        integer NOT NULL DEFAULT 0 CHECK (used_count >= 0 AND used_count <= max_uses),
    expires_at        timestamptz NOT NULL,
    revoked_at        timestamptz,
    created_by        text NOT NULL, -- pubkey of the admin who minted it
    inviter_name      text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL,
    capability_v2     text, -- v2: JSON {"canonical","signature"} signed by the owner
    token_hash        text, -- v1: hex sha256 of the token, for /join lookups
    token_sealed      bytea, -- v1: the token (it embeds the root key), sealed with the data key
    claimed_by_pubkey text, -- last claimer's x25519 key (v2) or ed25519 key (v1)
    preset            text NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX invite_code_uq ON invite (code) WHERE code IS NOT NULL;
CREATE UNIQUE INDEX invite_token_hash_uq ON invite (token_hash) WHERE token_hash IS NOT NULL;
CREATE INDEX invite_mesh_idx ON invite (mesh_id, created_at);

CREATE TABLE pending_invite (
    id          text PRIMARY KEY,
    mesh_id     text NOT NULL REFERENCES meshes (id),
    invite_id   text NOT NULL REFERENCES invite (id),
    email       text NOT NULL,
    code        text NOT NULL,
    sent_at     timestamptz,
    send_error  text NOT NULL DEFAULT '',
    accepted_at timestamptz,
    revoked_at  timestamptz,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX pending_invite_code_idx ON pending_invite (code);
CREATE INDEX pending_invite_invite_idx ON pending_invite (invite_id);

-- Append-only; seq is the row's position in its mesh's chain.
CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    mesh_id   text NOT NULL REFERENCES meshes (id),
    seq       bigint NOT NULL,
    at        timestamptz NOT NULL,
    event     text NOT NULL,
    actor     text NOT NULL DEFAULT '',
    details   text NOT NULL DEFAULT '{}', -- canonical JSON, hashed byte for byte
    prev_hash text NOT NULL,
    hash      text NOT NULL
);
-- A second row at the same position would be a fork: refused.
CREATE UNIQUE INDEX audit_log_chain_uq ON audit_log (mesh_id, seq);

-- One row per mesh: the chain head. Writers lock it, so the chain is
-- extended by one writer at a time, and a truncated tail is detectable.
CREATE TABLE audit_heads (
    mesh_id text PRIMARY KEY REFERENCES meshes (id),
    seq     bigint NOT NULL,
    hash    text NOT NULL
);

-- +goose Down
DROP TABLE audit_heads;
DROP TABLE audit_log;
DROP TABLE pending_invite;
DROP TABLE invite;
