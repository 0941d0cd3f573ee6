-- Each link of an email to a contact carries the email's time (its
-- sort_at), so that a contact's emails, newest first, are an index range
-- scan on the contact: a timeline page reads a page of links, not all of
-- them sorted. The database keeps the copy exact itself: a link takes its
-- email's time when it is inserted (whoever inserts it), and an email whose
-- time changes moves its links.

-- +goose Up
alter table email_contacts add column sort_at timestamptz;

-- No email changes its time between the copy and the triggers.
lock table emails in share row exclusive mode;

-- A new link (or one moved to another email) takes its email's time. The
-- email's row is read under a share lock, which waits for a transaction
-- changing the email's time and then reads its new time, so that a link
-- inserted while its email moves is not left behind. A link to no email is
-- the foreign key's violation, as it was before the copy.
-- +goose StatementBegin
create function email_contacts_sort_at() returns trigger language plpgsql as $$
begin
    select e.sort_at into new.sort_at from emails e where e.id = new.email_id for share;
    if not found then
        raise exception 'insert or update on table "email_contacts" violates foreign key constraint "email_contacts_email_id_fkey"'
            using errcode = 'foreign_key_violation', constraint = 'email_contacts_email_id_fkey',
                table = 'email_contacts', schema = tg_table_schema,
                detail = format('Key (email_id)=(%s) is not present in table "emails".', new.email_id);
    end if;
    return new;
end
$$;

-- An email whose time changed moves its links.
create function emails_sort_at_links() returns trigger language plpgsql as $$
begin
    update email_contacts set sort_at = new.sort_at
    where email_id = new.id and sort_at is distinct from new.sort_at;
    return null;
end
$$;
-- +goose StatementEnd
create trigger email_contacts_sort_at before insert or update of email_id on email_contacts
    for each row execute function email_contacts_sort_at();
create trigger emails_sort_at_links after update of sent_at, received_at, created_at on emails
    for each row when (old.sort_at is distinct from new.sort_at) execute function emails_sort_at_links();

update email_contacts ec set sort_at = e.sort_at from emails e where e.id = ec.email_id;
alter table email_contacts alter column sort_at set not null;

-- A contact's emails, newest first: the timeline's order and keyset.
create index email_contacts_contact_sort_idx on email_contacts (contact_id, sort_at desc, email_id desc);

-- +goose Down
drop index email_contacts_contact_sort_idx;
drop trigger emails_sort_at_links on emails;
drop trigger email_contacts_sort_at on email_contacts;
drop function emails_sort_at_links();
drop function email_contacts_sort_at();
alter table email_contacts drop column sort_at;
