-- The figures of a relationship, kept on each contact by the code that
-- links it to mail and meetings: when it began, how many emails the user
-- sent the contact and the other emails with them (received), as the
-- timeline tells them apart, and how many meetings were held with them. Meetings of the last days depend on the time of
-- reading and are counted then, from event_contacts.

-- +goose Up
alter table contacts
    add column first_interaction_at timestamptz,
    add column emails_sent integer not null default 0,
    add column emails_received integer not null default 0,
    add column meetings integer not null default 0;

-- The figures of what is linked already.
update contacts c set
    first_interaction_at = least(
        (select min(e.sort_at) from email_contacts ec join emails e on e.id = ec.email_id where ec.contact_id = c.id),
        (select min(ev.starts_at) from event_contacts ev where ev.contact_id = c.id)),
    emails_sent = (select count(*) from email_contacts ec join emails e on e.id = ec.email_id
        where ec.contact_id = c.id and 'SENT' = any(e.labels) and ec.role <> 'from'),
    emails_received = (select count(*) from email_contacts ec join emails e on e.id = ec.email_id
        where ec.contact_id = c.id and not ('SENT' = any(e.labels) and ec.role <> 'from')),
    meetings = (select count(*) from event_contacts ev where ev.contact_id = c.id)
where c.interaction_count > 0;

-- Contacts by last interaction, either way, for the list sorted by it and
-- for those the user has been quiet with.
create index contacts_user_last_interaction_idx on contacts (user_id, last_interaction_at desc, id desc)
    where last_interaction_at is not null;

-- +goose Down
drop index contacts_user_last_interaction_idx;
alter table contacts
    drop column first_interaction_at,
    drop column emails_sent,
    drop column emails_received,
    drop column meetings;
