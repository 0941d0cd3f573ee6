-- The contacts an email was exchanged with, each once, in its strongest
-- role (from, reply_to, to, cc, bcc: in that order).

-- +goose Up
create table email_contacts (
    email_id    uuid not null references emails (id) on delete cascade,
    contact_id  uuid not null references contacts (id) on delete cascade,
    user_id     uuid not null references users (id) on delete cascade,
    role        text not null,
    created_at  timestamptz not null default now(),
    primary key (email_id, contact_id),
    constraint email_contacts_role_check check (role in ('from', 'to', 'cc', 'bcc', 'reply_to'))
);
create index email_contacts_contact_idx on email_contacts (contact_id, email_id);
create index email_contacts_user_id_idx on email_contacts (user_id);

-- +goose Down
drop table email_contacts;
