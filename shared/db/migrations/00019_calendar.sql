-- Calendar sync: the meetings of each Google account's primary calendar,
-- and the contacts each meeting was held with. A meeting is an
-- interaction with each of its contacts, as an email is.

-- +goose Up
-- One row per synced account. A full sync lists the events of a window
-- (window_start to window_end), a page per step; page_token is its next
-- page, kept so that a run cut short resumes there. When it ends,
-- sync_token is Google's nextSyncToken, and later syncs read the changes
-- since.
create table calendar_sync_state (
    account_id      uuid primary key references accounts (id) on delete cascade,
    user_id         uuid not null references users (id) on delete cascade,
    -- new: never synced; full: a full sync is in progress; synced: up to
    -- date as of last_synced_at, and sync_token reads what changed since.
    status          text not null default 'new',
    sync_token      text,
    page_token      text,
    window_start    timestamptz,
    window_end      timestamptz,
    -- Counts the full syncs: each event listed by the current one carries
    -- it, and when it ends the events of its window it did not list
    -- (deleted while no sync token reached them) go.
    generation      integer not null default 0,
    -- A run holds the account until locked_until, so two runs never sync
    -- one account at once; a crashed run's hold lapses.
    locked_until    timestamptz,
    last_synced_at  timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint calendar_sync_state_status_check check (status in ('new', 'full', 'synced'))
);
create index calendar_sync_state_user_id_idx on calendar_sync_state (user_id);

-- One row per event of an account's calendar, and per occurrence of a
-- recurring one (google_id is the instance's id, recurring_event_id the
-- series'). Cancelled events, and those the user declined, are not kept.
-- attendees are the people the event is a meeting with, as the
-- extraction rules decided when it was synced: [{email, name, response,
-- role}]. linked_at is when they became its event_contacts: null while
-- the event has not ended yet, or changed since.
create table calendar_events (
    id                 uuid primary key,
    user_id            uuid not null references users (id) on delete cascade,
    account_id         uuid not null references accounts (id) on delete cascade,
    google_id          text not null,
    recurring_event_id text,
    title              text,
    location           text,
    starts_at          timestamptz not null,
    ends_at            timestamptz not null,
    all_day            boolean not null default false,
    status             text not null,
    organizer_email    text,
    attendees          jsonb not null default '[]'::jsonb,
    google_updated_at  timestamptz,
    linked_at          timestamptz,
    -- The full sync (calendar_sync_state.generation) that last listed it.
    generation         integer not null default 0,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    constraint calendar_events_account_google_key unique (account_id, google_id),
    constraint calendar_events_status_check check (status in ('confirmed', 'tentative')),
    constraint calendar_events_attendees_array check (jsonb_typeof(attendees) = 'array')
);
-- The user's meetings, newest first.
create index calendar_events_user_starts_idx on calendar_events (user_id, starts_at desc, id desc);
-- The occurrences of a recurring event, which go with it.
create index calendar_events_recurring_idx on calendar_events (account_id, recurring_event_id) where recurring_event_id is not null;
-- The events of an account still to become meetings once they end.
create index calendar_events_unlinked_idx on calendar_events (account_id, ends_at) where linked_at is null;

-- The contacts a meeting was held with, each once. starts_at is the
-- event's, kept here for a contact's meetings, newest first.
create table event_contacts (
    event_id    uuid not null references calendar_events (id) on delete cascade,
    contact_id  uuid not null references contacts (id) on delete cascade,
    user_id     uuid not null references users (id) on delete cascade,
    starts_at   timestamptz not null,
    -- The attendee's answer (accepted, tentative, needsAction) and role
    -- (organizer, required, optional).
    response    text not null,
    role        text not null,
    created_at  timestamptz not null default now(),
    primary key (event_id, contact_id),
    constraint event_contacts_response_check check (response in ('accepted', 'tentative', 'needsAction')),
    constraint event_contacts_role_check check (role in ('organizer', 'required', 'optional'))
);
create index event_contacts_contact_starts_idx on event_contacts (contact_id, starts_at desc);
create index event_contacts_user_id_idx on event_contacts (user_id);

-- +goose Down
drop table event_contacts;
drop table calendar_events;
drop table calendar_sync_state;
