-- auth-store SQLite schema, version 2: what a "your sessions" page shows.
-- Released migration files never change; later changes go in new files.
--
-- Sessions gain when they started ("createdAt"), when they were last seen
-- ("updatedAt"), and the IP address and user agent of the client that
-- started them. All four are optional: existing rows get NULL, which the
-- adapter reads as None. Datetimes follow version 1's fixed-width text rule.

ALTER TABLE sessions ADD COLUMN "createdAt" TEXT CHECK ("createdAt" GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]+00:00');
ALTER TABLE sessions ADD COLUMN "updatedAt" TEXT CHECK ("updatedAt" GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]+00:00');
ALTER TABLE sessions ADD COLUMN "ipAddress" TEXT;
ALTER TABLE sessions ADD COLUMN "userAgent" TEXT;
