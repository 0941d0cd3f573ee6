-- Disconnecting a Google account: the person ends the grant, its tokens
-- are deleted, and the row stays, so that their synced mail keeps its
-- account (one copy per Gmail message) and a later sign-in picks the sync
-- up where it stopped.

-- +goose Up
-- When the person disconnected the account; null while it is connected.
-- Signing in with Google again connects it (clears this).
alter table accounts add column disconnected_at timestamptz;
-- A disconnected account holds no token.
alter table accounts add constraint accounts_disconnected_tokens check (
    disconnected_at is null or (access_token is null and refresh_token is null and id_token is null));

-- +goose Down
alter table accounts drop constraint accounts_disconnected_tokens;
alter table accounts drop column disconnected_at;
