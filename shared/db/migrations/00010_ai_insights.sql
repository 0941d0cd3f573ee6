-- AI insights: what the ai-analysis job learned with a language model.

-- +goose Up
create table ai_insights (
    id          uuid primary key,
    user_id     uuid not null references users (id) on delete cascade,
    -- The contact the insight is about, for analyses of one contact.
    contact_id  uuid references contacts (id) on delete cascade,
    -- The analysis ("contact-summary", ...).
    type        text not null,
    -- The job that produced it: one insight per job, so a second delivery
    -- of the job finds it and does nothing. Not a foreign key: finished
    -- jobs are deleted after their retention, their insights are kept.
    job_id      uuid not null,
    -- The model that answered.
    model       text not null,
    -- The structured result, as the analysis type defines it.
    content     jsonb not null,
    created_at  timestamptz not null default now(),
    constraint ai_insights_content_object check (jsonb_typeof(content) = 'object')
);
create unique index ai_insights_job_key on ai_insights (job_id);
-- Lists, newest first: every insight of a user, and those of one contact.
create index ai_insights_user_created_idx on ai_insights (user_id, created_at desc, id desc);
create index ai_insights_contact_created_idx on ai_insights (contact_id, created_at desc, id desc)
    where contact_id is not null;

-- +goose Down
drop table ai_insights;
