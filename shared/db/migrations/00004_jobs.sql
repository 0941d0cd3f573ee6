-- Jobs: the outbox of the job queue and the record of every job's state.

-- +goose Up
-- A row is written in the producer's transaction (pending), sent to the
-- job type's SQS queue after commit (sent), claimed by a worker (running)
-- and finished (succeeded, or failed and retried, or dead).
create table jobs (
    id            uuid primary key,
    kind          text not null,
    -- The user the job works for, who may read its state; null for
    -- system jobs (schedules).
    user_id       uuid references users (id) on delete cascade,
    payload       jsonb not null,
    state         text not null default 'pending',
    attempts      integer not null default 0,
    max_attempts  integer not null,
    -- When the job may run: now, or later for delayed jobs (and, after a
    -- failure, when the next attempt is due).
    run_at        timestamptz not null default now(),
    -- At most one job per kind and key is waiting or running.
    singleton_key text,
    -- last_error is safe to show the user; error is for operators.
    last_error    text,
    error         text,
    -- A running job's claim lapses at locked_until, so a delivery after a
    -- crash may claim it again.
    locked_until  timestamptz,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    sent_at       timestamptz,
    started_at    timestamptz,
    finished_at   timestamptz,
    constraint jobs_state_check check (state in ('pending', 'sent', 'running', 'succeeded', 'failed', 'dead')),
    constraint jobs_attempts_check check (attempts >= 0 and max_attempts >= 1),
    constraint jobs_payload_object check (jsonb_typeof(payload) = 'object')
);
create unique index jobs_singleton_key on jobs (kind, singleton_key)
    where singleton_key is not null and state in ('pending', 'sent', 'running', 'failed');
-- The relay's scan: unsent jobs by due time.
create index jobs_pending_idx on jobs (run_at) where state = 'pending';
-- Retention: finished jobs by age.
create index jobs_finished_idx on jobs (finished_at) where state in ('succeeded', 'dead');
create index jobs_user_id_idx on jobs (user_id);

-- +goose Down
drop table jobs;
