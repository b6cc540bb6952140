-- auth-store Postgres schema, version 2: auth-store's own data out of Auth.js's tables.
-- Released migration files never change; later changes go in new files.
--
-- The rule, for this schema and every schema auth-store shares with another
-- framework: never add a column to a table the other framework owns. Auth.js's
-- @auth/pg-adapter reads users and sessions with `select *` and hands every
-- column to the app (its callbacks, and the browser when a session callback
-- spreads the user), and its own test suite compares `select *` of users,
-- accounts and sessions with what it wrote. So users, accounts, sessions and verification_token keep
-- exactly the columns of Auth.js's schema.sql, and what auth-store adds lives
-- in tables of its own, one row per row of Auth.js's table, keyed by that row's
-- id and deleted with it (ON DELETE CASCADE): whichever side deletes a user,
-- account or session, nothing of it stays behind. A row Auth.js wrote has no
-- side row; the adapter reads that as the defaults ({} and NULL).
--
-- Version 1 added `extra` columns to users and accounts; this file moves every
-- value into the side tables (an empty object, the default, needs no row) and
-- drops the columns, in the same transaction. On a database Auth.js created,
-- versions 1 and 2 run together, so the upgrade leaves Auth.js's tables with
-- their own columns only.

CREATE TABLE auth_store_users (
    id text NOT NULL,
    extra jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT auth_store_users_pkey PRIMARY KEY (id),
    CONSTRAINT auth_store_users_id_fkey
        FOREIGN KEY (id) REFERENCES users (id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT auth_store_users_extra_object CHECK (jsonb_typeof(extra) = 'object')
);
INSERT INTO auth_store_users (id, extra)
    SELECT id, extra FROM users WHERE extra <> '{}'::jsonb;
ALTER TABLE users DROP COLUMN extra;

CREATE TABLE auth_store_accounts (
    id text NOT NULL,
    extra jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT auth_store_accounts_pkey PRIMARY KEY (id),
    CONSTRAINT auth_store_accounts_id_fkey
        FOREIGN KEY (id) REFERENCES accounts (id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT auth_store_accounts_extra_object CHECK (jsonb_typeof(extra) = 'object')
);
INSERT INTO auth_store_accounts (id, extra)
    SELECT id, extra FROM accounts WHERE extra <> '{}'::jsonb;
ALTER TABLE accounts DROP COLUMN extra;

-- What a "your sessions" page shows: when a session started, when it was last
-- seen, and the IP address and user agent of the client that started it.
CREATE TABLE auth_store_sessions (
    id text NOT NULL,
    "createdAt" timestamptz,
    "updatedAt" timestamptz,
    "ipAddress" text,
    "userAgent" text,
    CONSTRAINT auth_store_sessions_pkey PRIMARY KEY (id),
    CONSTRAINT auth_store_sessions_id_fkey
        FOREIGN KEY (id) REFERENCES sessions (id) ON DELETE CASCADE ON UPDATE CASCADE
);
