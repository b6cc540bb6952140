-- auth-store SQLite schema, better-auth flavor, version 1. Released migration
-- files never change; later changes go in new files (0002_*.sql, ...).
--
-- Step 1 is Better Auth's own schema, statement for statement as Better Auth
-- 1.7's migrations (`getMigrations().compileMigrations()`, also `npx auth
-- generate`) write it for SQLite, with "if not exists" added: a database a
-- Better Auth app created is adopted with its rows (the adapter first checks
-- that its tables are Better Auth's, see auth_store.adapters.better_auth_schema),
-- and a new one ends up exactly as Better Auth would have made it. Better
-- Auth's tables keep exactly its columns: it reads them with `select *` and
-- refuses to start when a column it never writes is NOT NULL. What auth-store
-- keeps beyond them lives in tables of its own (step 2), keyed by the row's id
-- and deleted with it.
--
-- Better Auth's SQLite conventions, kept by the adapter: datetimes are ISO 8601
-- text in UTC ending in "Z" (auth-store writes microseconds), booleans are 0/1.

-- 1. Better Auth's core tables.

create table if not exists "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" integer not null, "image" text, "createdAt" date not null, "updatedAt" date not null);

create table if not exists "session" ("id" text not null primary key, "expiresAt" date not null, "token" text not null unique, "createdAt" date not null, "updatedAt" date not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade);

create table if not exists "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" date, "refreshTokenExpiresAt" date, "scope" text, "password" text, "createdAt" date not null, "updatedAt" date not null);

create table if not exists "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" date not null, "createdAt" date not null, "updatedAt" date not null);

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
    id TEXT NOT NULL PRIMARY KEY REFERENCES "user" (id) ON DELETE CASCADE ON UPDATE CASCADE,
    extra TEXT NOT NULL DEFAULT '{}',
    "emailVerifiedAt" TEXT,
    "nameUnset" INTEGER NOT NULL DEFAULT 0 CHECK ("nameUnset" IN (0, 1))
);

-- Account fields Better Auth has no column for, the scope as the provider
-- gave it (Better Auth joins scopes with commas), and for password
-- credentials (providerId 'credential') their version, their data besides the
-- hash, and the "updatedAt" the version was counted at.
CREATE TABLE auth_store_accounts (
    id TEXT NOT NULL PRIMARY KEY REFERENCES "account" (id) ON DELETE CASCADE ON UPDATE CASCADE,
    type TEXT,
    token_type TEXT,
    session_state TEXT,
    scope TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    data TEXT,
    version INTEGER CHECK (version IS NULL OR (typeof(version) = 'integer' AND version >= 1)),
    "passwordSetAt" TEXT
);

-- Better Auth's session timestamps are required; a session auth-store stored
-- without them keeps here the placeholder it wrote, read back as None while
-- the column still holds it.
CREATE TABLE auth_store_sessions (
    id TEXT NOT NULL PRIMARY KEY REFERENCES "session" (id) ON DELETE CASCADE ON UPDATE CASCADE,
    "createdAtUnset" TEXT,
    "updatedAtUnset" TEXT
);

CREATE TABLE auth_store_authenticators (
    "credentialID" TEXT NOT NULL PRIMARY KEY,
    "userId" TEXT NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
    "providerAccountId" TEXT NOT NULL,
    "credentialPublicKey" TEXT NOT NULL,
    counter INTEGER NOT NULL,
    "credentialDeviceType" TEXT NOT NULL,
    "credentialBackedUp" INTEGER NOT NULL CHECK ("credentialBackedUp" IN (0, 1)),
    transports TEXT
);
CREATE INDEX auth_store_authenticators_user_idx ON auth_store_authenticators ("userId");

CREATE TABLE auth_store_credentials (
    id TEXT NOT NULL PRIMARY KEY,
    "userId" TEXT NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (typeof(version) = 'integer' AND version >= 1),
    "createdAt" TEXT NOT NULL,
    "updatedAt" TEXT NOT NULL
);
CREATE INDEX auth_store_credentials_user_idx ON auth_store_credentials ("userId", type);
