-- Contact enrichment: a photo, where each detail came from, and when and
-- from where the contact was last enriched, so that details found
-- elsewhere never replace what the user set.

-- +goose Up
alter table contacts
    add column photo_url text,
    -- Who set each of company, job_title, phone and photo_url, by column:
    -- 'user' (also when they cleared it) or 'enrichment'; absent: nobody.
    -- The name keeps its own name_source.
    add column field_sources jsonb not null default '{}',
    -- The last enrichment that changed the contact: when, from which
    -- source ('google-contacts'), and whether the source knew the person.
    add column enriched_at timestamptz,
    add column enriched_from text,
    add column enrichment_matched boolean;
alter table contacts add constraint contacts_enrichment_check
    check ((enriched_at is null) = (enriched_from is null) and (enriched_at is null) = (enrichment_matched is null));

update contacts set field_sources = (
    select coalesce(jsonb_object_agg(f.col, 'user'), '{}')
    from (values ('company', company), ('job_title', job_title), ('phone', phone)) as f(col, val)
    where coalesce(f.val, '') <> '');

alter table contacts drop constraint contacts_name_source_check;
alter table contacts add constraint contacts_name_source_check check (name_source in ('user', 'email', 'enrichment'));

-- A writer that changes enriched_at is enrichment, and says itself where
-- each value came from; any other writer that changes a detail is the
-- user (the API's statements know neither column).
-- +goose StatementBegin
create or replace function contacts_name_source() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        if coalesce(new.name, '') <> '' and new.name_source is null then
            new.name_source := 'user';
        end if;
    elsif new.name is distinct from old.name and new.name_source is not distinct from old.name_source
            and new.enriched_at is not distinct from old.enriched_at then
        new.name_source := 'user';
    end if;
    if coalesce(new.name, '') = '' and new.name_source in ('email', 'enrichment') then
        new.name_source := null;
    end if;
    return new;
end
$$;

create function contacts_field_sources() returns trigger language plpgsql as $$
declare
    col text;
    was jsonb := case when tg_op = 'INSERT' then '{}'::jsonb else to_jsonb(old) end;
    now_ jsonb := to_jsonb(new);
begin
    if tg_op = 'UPDATE' and new.enriched_at is distinct from old.enriched_at then
        return new;
    end if;
    foreach col in array array['company', 'job_title', 'phone', 'photo_url'] loop
        if tg_op = 'INSERT' and coalesce(now_->>col, '') <> '' and not new.field_sources ? col
                or tg_op = 'UPDATE' and (now_->col) is distinct from (was->col) then
            new.field_sources := new.field_sources || jsonb_build_object(col, 'user');
        end if;
    end loop;
    return new;
end
$$;
-- +goose StatementEnd
create trigger contacts_field_sources before insert or update of company, job_title, phone, photo_url, enriched_at on contacts
    for each row execute function contacts_field_sources();

-- +goose Down
drop trigger contacts_field_sources on contacts;
drop function contacts_field_sources();
-- +goose StatementBegin
create or replace function contacts_name_source() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        if coalesce(new.name, '') <> '' and new.name_source is null then
            new.name_source := 'user';
        end if;
    elsif new.name is distinct from old.name and new.name_source is not distinct from old.name_source then
        new.name_source := 'user';
    end if;
    if coalesce(new.name, '') = '' and new.name_source = 'email' then
        new.name_source := null;
    end if;
    return new;
end
$$;
-- +goose StatementEnd
update contacts set name_source = 'user' where name_source = 'enrichment';
alter table contacts drop constraint contacts_name_source_check;
alter table contacts add constraint contacts_name_source_check check (name_source in ('user', 'email'));
alter table contacts drop constraint contacts_enrichment_check;
alter table contacts
    drop column photo_url,
    drop column field_sources,
    drop column enriched_at,
    drop column enriched_from,
    drop column enrichment_matched;
