-- auth-store SQLite schema, version 1. Released migration files never change;
-- later changes go in new files (0002_*.sql, ...).
--
-- Names follow Auth.js's @auth/pg-adapter schema (quoted camelCase columns) so
-- the statements are shared with the Postgres backend. Datetimes are ISO 8601
-- UTC text with microseconds, fixed width ("2026-01-02T03:04:05.000006+00:00"),
-- so they compare correctly as text; a CHECK admits nothing else, which also
-- lets the adapter parse them without re-checking. JSON columns hold objects
-- as text; booleans are 0/1.

CREATE TABLE users (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT,
    email TEXT NOT NULL,
    "emailVerified" TEXT CHECK ("emailVerified" GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]+00:00'),
    image TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE accounts (
    id TEXT NOT NULL PRIMARY KEY,
    "userId" TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    provider TEXT NOT NULL,
    "providerAccountId" TEXT NOT NULL,
    refresh_token TEXT,
    access_token TEXT,
    expires_at INTEGER,
    id_token TEXT,
    scope TEXT,
    session_state TEXT,
    token_type TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    CONSTRAINT accounts_provider_key UNIQUE (provider, "providerAccountId")
);
CREATE INDEX accounts_user_idx ON accounts ("userId");

CREATE TABLE sessions (
    id TEXT NOT NULL PRIMARY KEY,
    "userId" TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires TEXT NOT NULL CHECK (expires GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]+00:00'),
    "sessionToken" TEXT NOT NULL,
    CONSTRAINT sessions_token_key UNIQUE ("sessionToken")
);
CREATE INDEX sessions_user_idx ON sessions ("userId");
CREATE INDEX sessions_expires_idx ON sessions (expires);

CREATE TABLE verification_token (
    identifier TEXT NOT NULL,
    expires TEXT NOT NULL CHECK (expires GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]+00:00'),
    token TEXT NOT NULL,
    PRIMARY KEY (identifier, token)
);
CREATE INDEX verification_token_expires_idx ON verification_token (expires);

CREATE TABLE authenticators (
    "credentialID" TEXT NOT NULL PRIMARY KEY,
    "userId" TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    "providerAccountId" TEXT NOT NULL,
    "credentialPublicKey" TEXT NOT NULL,
    counter INTEGER NOT NULL,
    "credentialDeviceType" TEXT NOT NULL,
    "credentialBackedUp" INTEGER NOT NULL CHECK ("credentialBackedUp" IN (0, 1)),
    transports TEXT
);
CREATE INDEX authenticators_user_idx ON authenticators ("userId");

CREATE TABLE credentials (
    id TEXT NOT NULL PRIMARY KEY,
    "userId" TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (typeof(version) = 'integer' AND version >= 1),
    "createdAt" TEXT NOT NULL CHECK ("createdAt" GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]+00:00'),
    "updatedAt" TEXT NOT NULL CHECK ("updatedAt" GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]+00:00')
);
CREATE INDEX credentials_user_idx ON credentials ("userId", type);
