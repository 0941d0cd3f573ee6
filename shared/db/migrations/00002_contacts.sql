-- Contacts: people a user deals with, created by hand or extracted from mail.

-- +goose Up
create extension if not exists pg_trgm;

create table contacts (
    id                  uuid primary key,
    user_id             uuid not null references users (id) on delete cascade,
    email               text,
    name                text,
    company             text,
    job_title           text,
    phone               text,
    notes               text,
    interaction_count   integer not null default 0,
    last_interaction_at timestamptz,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    -- The list order: by name, else email, case-insensitively.
    sort_key            text generated always as (lower(coalesce(nullif(name, ''), email, ''))) stored,
    constraint contacts_name_or_email check (coalesce(name, '') <> '' or coalesce(email, '') <> '')
);
-- One contact per address per user, whatever its case.
create unique index contacts_user_email_key on contacts (user_id, lower(email)) where email is not null;
-- Keyset pagination in list order.
create index contacts_user_sort_idx on contacts (user_id, sort_key, id);
-- Substring search over name, email and company.
create index contacts_search_idx on contacts
    using gin ((coalesce(name, '') || ' ' || coalesce(email, '') || ' ' || coalesce(company, '')) gin_trgm_ops);

-- +goose Down
drop table contacts;
