-- Where a contact's name came from, so that names taken from mail never
-- replace a name the user set.

-- +goose Up
-- 'user': set through the API (or any writer that does not say otherwise);
-- 'email': taken from a display name by contact extraction; null: no name.
alter table contacts add column name_source text;
alter table contacts add constraint contacts_name_source_check check (name_source in ('user', 'email'));
update contacts set name_source = 'user' where coalesce(name, '') <> '';

-- A writer that changes the name without saying where it came from is the
-- user: the API's statements do not know this column, extraction's do.
-- +goose StatementBegin
create function contacts_name_source() returns trigger language plpgsql as $$
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
create trigger contacts_name_source before insert or update of name, name_source on contacts
    for each row execute function contacts_name_source();

-- +goose Down
drop trigger contacts_name_source on contacts;
drop function contacts_name_source();
alter table contacts drop column name_source;
