-- Users, their sign-in accounts and sessions.

-- +goose Up
create table users (
    id          uuid primary key,
    email       text not null,
    name        text,
    image_url   text,
    -- Per-user feature flags: {"ai-agents": true}. The environment gate
    -- is checked first; see shared/feature.
    features    jsonb not null default '{}'::jsonb,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint users_features_object check (jsonb_typeof(features) = 'object')
);
create unique index users_email_key on users (lower(email));

-- A user's link to an identity provider. Provider tokens are stored
-- encrypted (AES-256-GCM, bound to the account); never in plaintext.
create table accounts (
    id                  uuid primary key,
    user_id             uuid not null references users (id) on delete cascade,
    provider            text not null,
    provider_account_id text not null,
    access_token        bytea,
    refresh_token       bytea,
    id_token            bytea,
    token_type          text,
    scope               text,
    expires_at          timestamptz,
    needs_reconsent     boolean not null default false,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    constraint accounts_provider_subject_key unique (provider, provider_account_id)
);
create index accounts_user_id_idx on accounts (user_id);

-- Sessions keep only a SHA-256 hash of the bearer token.
create table sessions (
    id            uuid primary key,
    user_id       uuid not null references users (id) on delete cascade,
    token_hash    bytea not null,
    created_at    timestamptz not null default now(),
    last_used_at  timestamptz not null default now(),
    expires_at    timestamptz not null,
    user_agent    text,
    ip            text,
    constraint sessions_token_hash_key unique (token_hash)
);
create index sessions_user_id_idx on sessions (user_id);
create index sessions_expires_at_idx on sessions (expires_at);

-- Short-lived one-time tokens (sign-in state, verification links),
-- stored hashed like sessions.
create table verification_tokens (
    identifier  text not null,
    token_hash  bytea not null,
    data        jsonb,
    expires_at  timestamptz not null,
    created_at  timestamptz not null default now(),
    primary key (identifier, token_hash)
);
create index verification_tokens_expires_at_idx on verification_tokens (expires_at);

-- +goose Down
drop table verification_tokens;
drop table sessions;
drop table accounts;
drop table users;
