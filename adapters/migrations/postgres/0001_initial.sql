-- auth-store Postgres schema, version 1. Released migration files never change;
-- later changes go in new files (0002_*.sql, ...).
--
-- One path for every database: step 1 creates Auth.js's tables exactly as
-- @auth/pg-adapter documents them, unless they exist; steps 2-4 turn them
-- into auth-store's shape. So a fresh schema and one whose tables a Next.js
-- app on Auth.js created (and filled) end up identical, and every run of
-- the test suite exercises the upgrade. Before this file runs on existing
-- tables, the adapter checks them (auth_store.adapters.postgres_authjs) and
-- refuses, changing nothing, when a step below would fail or lose a row.
--
-- Ids become text (existing integer ids keep their values as "1", "2", ...)
-- and keep their SERIAL defaults, converted to text: the Next.js app goes on
-- inserting rows without ids, and auth-store can store the ids of any other
-- backend. Datetimes are timestamptz; extra and data are jsonb objects.

-- 1. Auth.js's tables (as in @auth/pg-adapter's documentation).

CREATE TABLE IF NOT EXISTS users (
    id SERIAL,
    name VARCHAR(255),
    email VARCHAR(255),
    "emailVerified" TIMESTAMPTZ,
    image TEXT,
    PRIMARY KEY (id)
);

CREATE TABLE IF NOT EXISTS accounts (
    id SERIAL,
    "userId" INTEGER NOT NULL,
    type VARCHAR(255) NOT NULL,
    provider VARCHAR(255) NOT NULL,
    "providerAccountId" VARCHAR(255) NOT NULL,
    refresh_token TEXT,
    access_token TEXT,
    expires_at BIGINT,
    id_token TEXT,
    scope TEXT,
    session_state TEXT,
    token_type TEXT,
    PRIMARY KEY (id)
);

CREATE TABLE IF NOT EXISTS sessions (
    id SERIAL,
    "userId" INTEGER NOT NULL,
    expires TIMESTAMPTZ NOT NULL,
    "sessionToken" VARCHAR(255) NOT NULL,
    PRIMARY KEY (id)
);

CREATE TABLE IF NOT EXISTS verification_token (
    identifier TEXT NOT NULL,
    expires TIMESTAMPTZ NOT NULL,
    token TEXT NOT NULL,
    PRIMARY KEY (identifier, token)
);

-- 2. Drop the keys Auth.js's schema.sql may have declared (foreign keys to
-- users, unique e-mail, provider account and session token, whatever their
-- names): step 3 declares them again, on text columns and under the names
-- the adapter maps to its errors.

DO $$
DECLARE
    found record;
BEGIN
    FOR found IN
        SELECT con.conname, con.conrelid::regclass AS tbl
        FROM pg_constraint con
        WHERE con.conrelid IN ('users'::regclass, 'accounts'::regclass, 'sessions'::regclass)
          AND (
            (con.contype = 'f' AND con.confrelid = 'users'::regclass)
            OR (con.contype = 'u' AND ARRAY(
                    SELECT a.attname::text FROM pg_attribute a
                    WHERE a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey)
                    ORDER BY a.attname
                ) IN (ARRAY['email'], ARRAY['provider', 'providerAccountId'], ARRAY['sessionToken']))
          )
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', found.tbl, found.conname);
    END LOOP;
END
$$;

-- 3. Auth.js's tables in auth-store's shape. Changing a column's type keeps
-- its default (nextval(...) becomes text through the assignment cast).

ALTER TABLE users
    ALTER COLUMN id TYPE text USING id::text,
    ALTER COLUMN name TYPE text,
    ALTER COLUMN email TYPE text,
    ALTER COLUMN email SET NOT NULL,
    ADD COLUMN extra jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD CONSTRAINT users_extra_object CHECK (jsonb_typeof(extra) = 'object');

-- Unique on the lower-cased address: auth-store stores e-mails normalised,
-- and rows the Next.js app wrote keep their case yet still collide.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

ALTER TABLE accounts
    ALTER COLUMN id TYPE text USING id::text,
    ALTER COLUMN "userId" TYPE text USING "userId"::text,
    ALTER COLUMN type TYPE text,
    ALTER COLUMN provider TYPE text,
    ALTER COLUMN "providerAccountId" TYPE text,
    ADD COLUMN extra jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD CONSTRAINT accounts_extra_object CHECK (jsonb_typeof(extra) = 'object'),
    ADD CONSTRAINT accounts_provider_key UNIQUE (provider, "providerAccountId"),
    ADD CONSTRAINT accounts_user_fkey
        FOREIGN KEY ("userId") REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX accounts_user_idx ON accounts ("userId");

ALTER TABLE sessions
    ALTER COLUMN id TYPE text USING id::text,
    ALTER COLUMN "userId" TYPE text USING "userId"::text,
    ALTER COLUMN "sessionToken" TYPE text,
    ADD CONSTRAINT sessions_token_key UNIQUE ("sessionToken"),
    ADD CONSTRAINT sessions_user_fkey
        FOREIGN KEY ("userId") REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX sessions_user_idx ON sessions ("userId");
CREATE INDEX sessions_expires_idx ON sessions (expires);

CREATE INDEX verification_token_expires_idx ON verification_token (expires);

-- 4. The tables Auth.js's pg-adapter doesn't have.

CREATE TABLE authenticators (
    "credentialID" text NOT NULL,
    "userId" text NOT NULL,
    "providerAccountId" text NOT NULL,
    "credentialPublicKey" text NOT NULL,
    counter bigint NOT NULL,
    "credentialDeviceType" text NOT NULL,
    "credentialBackedUp" boolean NOT NULL,
    transports text,
    CONSTRAINT authenticators_pkey PRIMARY KEY ("credentialID"),
    CONSTRAINT authenticators_user_fkey
        FOREIGN KEY ("userId") REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX authenticators_user_idx ON authenticators ("userId");

CREATE TABLE credentials (
    id text NOT NULL,
    "userId" text NOT NULL,
    type text NOT NULL,
    data jsonb NOT NULL,
    version bigint NOT NULL,
    "createdAt" timestamptz NOT NULL,
    "updatedAt" timestamptz NOT NULL,
    CONSTRAINT credentials_pkey PRIMARY KEY (id),
    CONSTRAINT credentials_user_fkey
        FOREIGN KEY ("userId") REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT credentials_data_object CHECK (jsonb_typeof(data) = 'object'),
    CONSTRAINT credentials_version_positive CHECK (version >= 1)
);
CREATE INDEX credentials_user_idx ON credentials ("userId", type);
