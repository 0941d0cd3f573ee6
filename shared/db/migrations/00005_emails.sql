-- Emails: messages synced from a user's mailbox.

-- +goose Up
create table emails (
    id              uuid primary key,
    user_id         uuid not null references users (id) on delete cascade,
    account_id      uuid references accounts (id) on delete set null,
    -- The provider's id of the message (Gmail's message id) and thread.
    provider_id     text,
    thread_id       text,
    -- The address of the mailbox the message was synced from: one of the
    -- user's own addresses.
    mailbox         text,
    -- The RFC 5322 Message-ID.
    message_id      text,
    subject         text,
    snippet         text,
    body_text       text,
    -- Address headers as received (RFC 5322, possibly with RFC 2047
    -- encoded words); contact extraction parses them.
    from_header     text,
    to_header       text,
    cc_header       text,
    bcc_header      text,
    reply_to_header text,
    -- Other headers the rules read, by lower-case name:
    -- {"auto-submitted": "auto-generated", "precedence": "bulk", "list-id": "..."}.
    headers         jsonb not null default '{}'::jsonb,
    labels          text[] not null default '{}',
    sent_at         timestamptz,
    received_at     timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint emails_headers_object check (jsonb_typeof(headers) = 'object')
);
create unique index emails_account_provider_key on emails (account_id, provider_id)
    where account_id is not null and provider_id is not null;
create index emails_user_sent_idx on emails (user_id, sent_at desc, id);

-- +goose Down
drop table emails;
