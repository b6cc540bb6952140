-- auth-store Postgres schema, better-auth flavor, version 1. Released migration
-- files never change; later changes go in new files (0002_*.sql, ...).
--
-- Step 1 is Better Auth's own schema, statement for statement as Better Auth
-- 1.7's migrations (`getMigrations().compileMigrations()`, also `npx auth
-- generate`) write it for Postgres, with "if not exists" added: a schema a
-- Better Auth app created is adopted with its rows (the adapter first checks
-- that its tables are Better Auth's, see auth_store.adapters.better_auth_schema),
-- and a new one ends up exactly as Better Auth would have made it. Better
-- Auth's tables keep exactly its columns: it reads them with `select *` and
-- refuses to start when a column it never writes is NOT NULL. What auth-store
-- keeps beyond them lives in tables of its own (step 2), keyed by the row's id
-- and deleted with it.

-- 1. Better Auth's core tables.

create table if not exists "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" boolean not null, "image" text, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz default CURRENT_TIMESTAMP not null);

create table if not exists "session" ("id" text not null primary key, "expiresAt" timestamptz not null, "token" text not null unique, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade);

create table if not exists "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" timestamptz, "refreshTokenExpiresAt" timestamptz, "scope" text, "password" text, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null);

create table if not exists "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" timestamptz not null, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz default CURRENT_TIMESTAMP not null);

create index if not exists "session_userId_idx" on "session" ("userId");

create index if not exists "account_userId_idx" on "account" ("userId");

create index if not exists "verification_identifier_idx" on "verification" ("identifier");

-- Keys and indexes Better Auth's migrations leave out and its queries never
-- trip over: one row per provider account (Better Auth checks that in code
-- only; its password accounts, providerId 'credential', are left out), and the
-- expiry columns that purging scans.
CREATE UNIQUE INDEX auth_store_account_provider_key ON "account" ("providerId", "accountId")
    WHERE "providerId" <> 'credential';
CREATE INDEX auth_store_session_expires_idx ON "session" ("expiresAt");
CREATE INDEX auth_store_verification_expires_idx ON "verification" ("expiresAt");

-- 2. What auth-store keeps beyond Better Auth's columns. A side row exists only
-- when it holds something (rows Better Auth writes have none).

-- User.extra; when the address was verified (Better Auth keeps a boolean);
-- whether the name is None (Better Auth's name is required: '' is stored).
CREATE TABLE auth_store_users (
    id text NOT NULL,
    extra jsonb NOT NULL DEFAULT '{}'::jsonb,
    "emailVerifiedAt" timestamptz,
    "nameUnset" boolean NOT NULL DEFAULT false,
    CONSTRAINT auth_store_users_pkey PRIMARY KEY (id),
    CONSTRAINT auth_store_users_id_fkey
        FOREIGN KEY (id) REFERENCES "user" (id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT auth_store_users_extra_object CHECK (jsonb_typeof(extra) = 'object')
);

-- Account fields Better Auth has no column for, the scope as the provider
-- gave it (Better Auth joins scopes with commas), and for password
-- credentials (providerId 'credential') their version, their data besides the
-- hash, and the "updatedAt" the version was counted at.
CREATE TABLE auth_store_accounts (
    id text NOT NULL,
    type text,
    token_type text,
    session_state text,
    scope text,
    extra jsonb NOT NULL DEFAULT '{}'::jsonb,
    data jsonb,
    version bigint,
    "passwordSetAt" timestamptz,
    CONSTRAINT auth_store_accounts_pkey PRIMARY KEY (id),
    CONSTRAINT auth_store_accounts_id_fkey
        FOREIGN KEY (id) REFERENCES "account" (id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT auth_store_accounts_extra_object CHECK (jsonb_typeof(extra) = 'object'),
    CONSTRAINT auth_store_accounts_data_object CHECK (data IS NULL OR jsonb_typeof(data) = 'object'),
    CONSTRAINT auth_store_accounts_version_positive CHECK (version IS NULL OR version >= 1)
);

-- Better Auth's session timestamps are required; a session auth-store stored
-- without them keeps here the placeholder it wrote, read back as None while
-- the column still holds it.
CREATE TABLE auth_store_sessions (
    id text NOT NULL,
    "createdAtUnset" timestamptz,
    "updatedAtUnset" timestamptz,
    CONSTRAINT auth_store_sessions_pkey PRIMARY KEY (id),
    CONSTRAINT auth_store_sessions_id_fkey
        FOREIGN KEY (id) REFERENCES "session" (id) ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE auth_store_authenticators (
    "credentialID" text NOT NULL,
    "userId" text NOT NULL,
    "providerAccountId" text NOT NULL,
    "credentialPublicKey" text NOT NULL,
    counter bigint NOT NULL,
    "credentialDeviceType" text NOT NULL,
    "credentialBackedUp" boolean NOT NULL,
    transports text,
    CONSTRAINT auth_store_authenticators_pkey PRIMARY KEY ("credentialID"),
    CONSTRAINT auth_store_authenticators_user_fkey
        FOREIGN KEY ("userId") REFERENCES "user" (id) ON DELETE CASCADE
);
CREATE INDEX auth_store_authenticators_user_idx ON auth_store_authenticators ("userId");

CREATE TABLE auth_store_credentials (
    id text NOT NULL,
    "userId" text NOT NULL,
    type text NOT NULL,
    data jsonb NOT NULL,
    version bigint NOT NULL,
    "createdAt" timestamptz NOT NULL,
    "updatedAt" timestamptz NOT NULL,
    CONSTRAINT auth_store_credentials_pkey PRIMARY KEY (id),
    CONSTRAINT auth_store_credentials_user_fkey
        FOREIGN KEY ("userId") REFERENCES "user" (id) ON DELETE CASCADE,
    CONSTRAINT auth_store_credentials_data_object CHECK (jsonb_typeof(data) = 'object'),
    CONSTRAINT auth_store_credentials_version_positive CHECK (version >= 1)
);
CREATE INDEX auth_store_credentials_user_idx ON auth_store_credentials ("userId", type);
