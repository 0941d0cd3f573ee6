-- Mail sync: where each account's sync stands, and the emails' list order
-- and search.

-- +goose Up
-- One row per synced account. A full sync lists the mailbox newest first,
-- a page per run, from the history id it started at (full_history_id);
-- when it ends, history_id is that start, and later syncs read the
-- mailbox's history since history_id.
create table sync_state (
    account_id      uuid primary key references accounts (id) on delete cascade,
    user_id         uuid not null references users (id) on delete cascade,
    -- Where incremental syncs start; null before the first full sync ends.
    history_id      text,
    -- A full sync in progress: the history id it started at, the next
    -- page of the message list (null for the first), and how many
    -- messages it has listed so far.
    full_history_id text,
    page_token      text,
    listed          integer not null default 0,
    -- A run holds the account until locked_until, so two runs never sync
    -- one account at once; a crashed run's hold lapses.
    locked_until    timestamptz,
    last_synced_at  timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
create index sync_state_user_id_idx on sync_state (user_id);

-- The list order: when the email happened (sent, else received, else
-- stored), newest first.
alter table emails add column sort_at timestamptz
    generated always as (coalesce(sent_at, received_at, created_at)) stored;
create index emails_user_sort_idx on emails (user_id, sort_at desc, id desc);
-- Search over subject, snippet and sender, anywhere in the text.
create index emails_search_idx on emails
    using gin ((coalesce(subject, '') || ' ' || coalesce(snippet, '') || ' ' || coalesce(from_header, '')) gin_trgm_ops);

-- +goose Down
drop index emails_search_idx;
drop index emails_user_sort_idx;
alter table emails drop column sort_at;
drop table sync_state;
