"""``BetterAuthMethods``: the contract on Better Auth's tables (the ``better-auth`` flavor).

A backend's flavor class puts this mixin before the backend class, so it
runs on that backend's I/O hooks (``_fetchone``, ``_fetchall``,
``_transaction``, ``_snapshot``; see ``base``) and dialect::

    class BetterAuthSQLiteAdapter(BetterAuthMethods, SQLiteAdapter): ...

The statements are ``better_auth_statements``, the mapping between models and
rows ``better_auth_rows``. A write that touches one of Better Auth's rows and
its side row is one transaction; a read-modify-write (an update of some
fields) reads the row locked first, so concurrent updates of different
fields lose none. Validation, migrations, ``schema_status`` and ``health``
are the shared layer's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from functools import cached_property
from typing import Any

from auth_store import clock
from auth_store import validation as v
from auth_store.better_auth.conventions import conventions as better_auth_conventions
from auth_store.better_auth.passwords import is_better_auth_hash
from auth_store.capabilities import AppConventions
from auth_store.checks import record_label
from auth_store.errors import ConflictError, NotFoundError, ValidationError
from auth_store.models import (
    COLLECTIONS,
    Account,
    Authenticator,
    Credential,
    Model,
    Session,
    User,
    VerificationToken,
)
from auth_store.problems import CheckReport, Problem
from auth_store.records import collection_of

from ..better_auth_checks import Column, unmappable_rows
from .base import IMPORT_CHUNK, Executor, Lookup, SQLAdapter
from .better_auth_rows import BetterAuthRows
from .better_auth_statements import CREDENTIAL_PROVIDER, BetterAuthStatements
from .rows import Params, Row

__all__ = ["FLAVOR", "BetterAuthMethods", "Step"]

#: The value of the ``flavor`` URL option that selects this layout.
FLAVOR = "better-auth"

#: One statement of a write and its parameters.
Step = tuple[str, Params]


def _provider(value: object) -> str:
    provider = v.check_text(value, "provider")
    return provider


class BetterAuthMethods(SQLAdapter):
    """Every method of the contract that differs on Better Auth's tables."""

    flavor = FLAVOR

    @cached_property
    def _ba(self) -> BetterAuthStatements:
        return BetterAuthStatements(self.dialect)

    @cached_property
    def _ba_rows(self) -> BetterAuthRows:
        return BetterAuthRows(self.dialect)

    @staticmethod
    def _locked(ex: Executor, lock: str | None, select: str, key: Params) -> Row | None:
        """The row ``select`` reads, after ``lock`` (Postgres) locked it for this transaction."""
        if lock is not None:
            ex.execute(lock, key)
        found: Row | None = ex.execute(select, key).fetchone()
        return found

    def _run(self, steps: Iterable[Step]) -> None:
        with self._transaction() as ex:
            for sql, params in steps:
                ex.execute(sql, params)

    # -- users ----------------------------------------------------------------------

    def _user_steps(self, user: User, now: datetime) -> list[Step]:
        steps: list[Step] = [(self._ba.user_insert, self._ba_rows.user_params(user, now, now))]
        side = self._ba_rows.user_side(user)
        if side is not None:
            steps.append((self._ba.user_side_put, side))
        return steps

    def create_user(self, user: User) -> User:
        user = v.prepare_user(user)
        self._run(self._user_steps(user, clock.now()))
        return user

    def _plan_get_user(self, id: str) -> Lookup[User]:
        return self._ba.user_by_id, (v.validate_id(id),), self._rows.user

    def _plan_get_user_by_email(self, email: str) -> Lookup[User]:
        normal = v.normalize_email(email)
        # Better Auth stores what its user typed, lower-cased (no NFKC, no trim).
        typed = email.lower() if isinstance(email, str) else normal
        return self._ba.user_by_email, (normal, typed, normal), self._rows.user

    def _plan_get_user_by_account(self, provider: str, provider_account_id: str) -> Lookup[User]:
        key = (_provider(provider), v.check_text(provider_account_id, "provider_account_id"))
        return self._ba.user_by_account, key, self._rows.user

    def update_user(self, id: str, **changes: Any) -> User:
        v.validate_id(id)
        changes = v.prepare_user_changes(changes)
        with self._transaction() as ex:
            row = self._locked(ex, self._ba.user_lock, self._ba.user_by_id, (id,))
            if row is None:
                raise NotFoundError("no user with this id")
            user = replace(self._rows.user(row), **changes)
            now = clock.now()
            params = self._ba_rows.user_params(user, now, now)
            ex.execute(self._ba.user_update, (*params[1:5], params[6], id))
            side = self._ba_rows.user_side(user)
            if side is None:
                ex.execute(self._ba.user_side_delete, (id,))
            else:
                ex.execute(self._ba.user_side_put, side)
        return user

    def delete_user(self, id: str) -> User | None:
        key = (v.validate_id(id),)
        with self._transaction() as ex:
            row = self._locked(ex, self._ba.user_lock, self._ba.user_by_id, key)
            if row is None:
                return None
            # Sessions, accounts (passwords too), side rows, authenticators and
            # credentials go by ON DELETE CASCADE.
            ex.execute(self._ba.user_delete, key)
        return self._rows.user(row)

    # -- accounts ---------------------------------------------------------------------

    def _check_provider(self, provider: str) -> None:
        if provider == CREDENTIAL_PROVIDER:
            raise ValidationError(
                f"provider {CREDENTIAL_PROVIDER!r} is Better Auth's password account: store"
                " passwords as credentials (auth_store.passwords), not as accounts"
            )

    def _account_steps(self, account: Account, now: datetime) -> list[Step]:
        self._check_provider(account.provider)
        rows = self._ba_rows
        steps: list[Step] = [(self._ba.account_insert, rows.account_params(account, now, now))]
        side = rows.account_side(account)
        if side is not None:
            steps.append((self._ba.account_side_put, side))
        return steps

    def link_account(self, account: Account) -> Account:
        account = v.prepare_account(account)
        self._run(self._account_steps(account, clock.now()))
        return account

    def get_account(self, provider: str, provider_account_id: str) -> Account | None:
        key = (_provider(provider), v.check_text(provider_account_id, "provider_account_id"))
        row = self._fetchone(self._ba.account_by_key, key)
        return None if row is None else self._ba_rows.account(row)

    def list_accounts(self, user_id: str) -> list[Account]:
        key = (v.validate_id(user_id, "user_id"),)
        rows = self._fetchall(self._ba.accounts_by_user, key)
        return [self._ba_rows.account(row) for row in rows]

    def update_account(
        self, provider: str, provider_account_id: str, **changes: Any
    ) -> Account | None:
        key = (_provider(provider), v.check_text(provider_account_id, "provider_account_id"))
        changes = v.prepare_account_changes(changes)
        with self._transaction() as ex:
            row = self._locked(ex, self._ba.account_lock, self._ba.account_by_key, key)
            if row is None:
                return None
            account = replace(self._ba_rows.account(row), **changes)
            params = self._ba_rows.account_change_params(account, clock.now())
            ex.execute(self._ba.account_update, (*params, account.id))
            side = self._ba_rows.account_side(account)
            if side is None:
                ex.execute(self._ba.account_side_delete, (account.id,))
            else:
                ex.execute(self._ba.account_side_put, side)
        return account

    def unlink_account(self, provider: str, provider_account_id: str) -> Account | None:
        key = (_provider(provider), v.check_text(provider_account_id, "provider_account_id"))
        with self._transaction() as ex:
            row = self._locked(ex, self._ba.account_lock, self._ba.account_by_key, key)
            if row is None:
                return None
            account = self._ba_rows.account(row)
            if ex.execute(self._ba.account_delete, (account.id,)).rowcount < 1:
                return None
        return account

    # -- sessions -----------------------------------------------------------------------

    def _session_steps(self, session: Session, now: datetime) -> list[Step]:
        steps: list[Step] = [(self._ba.session_insert, self._ba_rows.session_params(session, now))]
        side = self._ba_rows.session_side(session, now)
        if side is not None:
            steps.append((self._ba.session_side_put, side))
        return steps

    def create_session(self, session: Session) -> Session:
        session = v.prepare_session(session)
        self._run(self._session_steps(session, clock.now()))
        return session

    def _plan_get_session_and_user(self, session_token: str) -> Lookup[tuple[Session, User]]:
        key = (v.check_text(session_token, "session_token"),)
        return self._ba.session_and_user, key, self._rows.session_and_user

    def update_session(self, session_token: str, **changes: Any) -> Session | None:
        key = (v.check_text(session_token, "session_token"),)
        changes = v.prepare_session_changes(changes)
        with self._transaction() as ex:
            row = self._locked(ex, self._ba.session_lock, self._ba.session_by_token, key)
            if row is None:
                return None
            session = replace(self._rows.session(row), **changes)
            now = clock.now()
            ex.execute(self._ba.session_update, self._ba_rows.session_change_params(session, now))
            side = self._ba_rows.session_side(session, now)
            if side is None:
                ex.execute(self._ba.session_side_delete, (session.id,))
            else:
                ex.execute(self._ba.session_side_put, side)
        return session

    def delete_session(self, session_token: str) -> Session | None:
        key = (v.check_text(session_token, "session_token"),)
        with self._transaction() as ex:
            row = self._locked(ex, self._ba.session_lock, self._ba.session_by_token, key)
            if row is None:
                return None
            session = self._rows.session(row)
            if ex.execute(self._ba.session_delete, (session.id,)).rowcount < 1:
                return None
        return session

    def list_sessions(self, user_id: str) -> list[Session]:
        rows = self._fetchall(self._ba.sessions_by_user, (v.validate_id(user_id, "user_id"),))
        sessions = [self._rows.session(row) for row in rows]
        # Sorted here: on SQLite Better Auth's and auth-store's datetime texts
        # differ in width, so the column does not sort them by time.
        return sorted(sessions, key=lambda s: (s.expires, s.id))

    def delete_sessions(self, user_id: str) -> int:
        key = (v.validate_id(user_id, "user_id"),)
        with self._transaction() as ex:
            deleted: int = ex.execute(self._ba.sessions_delete_by_user, key).rowcount
        return deleted

    # -- verification tokens --------------------------------------------------------------

    def create_verification_token(self, vt: VerificationToken) -> VerificationToken:
        vt = v.prepare_verification_token(vt)
        self._run([(self._ba.token_insert, self._ba_rows.token_params(vt, clock.now()))])
        return vt

    def use_verification_token(self, identifier: str, token: str) -> VerificationToken | None:
        key = (v.check_text(identifier, "identifier"), v.check_text(token, "token"))
        with self._transaction() as ex:
            row = ex.execute(self._ba.token_find, key).fetchone()
            if row is None:
                return None
            # Of concurrent callers that found the row, only the one whose DELETE
            # removed it gets it (Postgres re-checks the row after the lock).
            if ex.execute(self._ba.token_delete, (row[0],)).rowcount < 1:
                return None
        return self._rows.token(row[1:])

    # -- authenticators -----------------------------------------------------------------

    def create_authenticator(self, a: Authenticator) -> Authenticator:
        a = v.prepare_authenticator(a)
        self._run([(self._ba.authenticator_insert, self._rows.authenticator_params(a))])
        return a

    def get_authenticator(self, credential_id: str) -> Authenticator | None:
        key = (v.check_text(credential_id, "credential_id"),)
        row = self._fetchone(self._ba.authenticator_by_id, key)
        return None if row is None else self._rows.authenticator(row)

    def list_authenticators_by_user_id(self, user_id: str) -> list[Authenticator]:
        key = (v.validate_id(user_id, "user_id"),)
        rows = self._fetchall(self._ba.authenticators_by_user, key)
        return [self._rows.authenticator(r) for r in rows]

    def update_authenticator_counter(self, credential_id: str, counter: int) -> Authenticator:
        key = (v.check_text(credential_id, "credential_id"),)
        counter = v.check_int(counter, "counter")
        with self._transaction() as ex:
            if ex.execute(self._ba.authenticator_counter, (counter, *key)).rowcount < 1:
                raise NotFoundError("no authenticator with this credential id")
            row = ex.execute(self._ba.authenticator_by_id, key).fetchone()
        assert row is not None
        return self._rows.authenticator(row)

    def delete_authenticator(self, credential_id: str) -> Authenticator | None:
        key = (v.check_text(credential_id, "credential_id"),)
        with self._transaction() as ex:
            row = ex.execute(self._ba.authenticator_by_id, key).fetchone()
            if row is None or ex.execute(self._ba.authenticator_delete, key).rowcount < 1:
                return None
        return self._rows.authenticator(row)

    # -- credentials --------------------------------------------------------------------

    def _credential_steps(self, c: Credential) -> list[Step]:
        rows = self._ba_rows
        if c.type != "password":
            return [(self._ba.credential_insert, rows.credential_params(c))]
        return [
            (self._ba.password_insert, rows.password_params(c)),
            (self._ba.password_side_put, rows.password_side(c)),
        ]

    def create_credential(self, c: Credential) -> Credential:
        c = v.prepare_credential(c)
        with self._transaction() as ex:
            # Passwords and the rest live in two tables: one id must not name both.
            if ex.execute(self._ba.credential_where, (c.id, c.id)).fetchone() is not None:
                raise ConflictError("a credential with this id exists")
            for sql, params in self._credential_steps(c):
                ex.execute(sql, params)
        return c

    def get_credential(self, id: str) -> Credential | None:
        key = v.validate_id(id)
        row = self._fetchone(self._ba.credential_by_id, (key, key))
        return None if row is None else self._ba_rows.credential(row)

    def list_credentials(self, user_id: str, type: str | None = None) -> list[Credential]:
        v.validate_id(user_id, "user_id")
        if type is None:
            rows = self._fetchall(self._ba.credentials_by_user, (user_id, user_id))
        elif v.check_text(type, "type") == "password":
            rows = self._fetchall(self._ba.passwords_by_user, (user_id,))
        else:
            rows = self._fetchall(self._ba.credentials_by_user_type, (user_id, type))
        found = [self._ba_rows.credential(row) for row in rows]
        return sorted(found, key=lambda c: (c.created_at, c.id))

    def update_credential(
        self, id: str, data: dict[str, Any], *, expected_version: int
    ) -> Credential | None:
        key = v.validate_id(id)
        data, expected_version = v.prepare_credential_data(data, expected_version)
        now = clock.now()
        with self._transaction() as ex:
            where = ex.execute(self._ba.credential_where, (key, key)).fetchone()
            if where is None:
                return None
            if where[0] != "password":
                # Compare-and-set: one conditional UPDATE, so exactly one caller wins.
                params = (self.dialect.dump_json(data), self.dialect.dump_datetime(now))
                changed = ex.execute(self._ba.credential_update, (*params, key, expected_version))
                if changed.rowcount < 1:
                    return None
                row = ex.execute(self._ba.credential_by_id, (key, key)).fetchone()
                assert row is not None
                return self._ba_rows.credential(row)
            row = self._locked(ex, self._ba.password_lock, self._ba.password_by_id, (key,))
            if row is None:
                return None
            current = self._ba_rows.credential(row)
            if current.version != expected_version:
                return None
            updated = replace(current, data=data, version=current.version + 1, updated_at=now)
            hash_, _ = self._ba_rows.split_password(data)
            ex.execute(self._ba.password_update, (hash_, self.dialect.dump_datetime(now), key))
            ex.execute(self._ba.password_side_put, self._ba_rows.password_side(updated))
        return updated

    def delete_credential(self, id: str) -> Credential | None:
        key = v.validate_id(id)
        with self._transaction() as ex:
            row = ex.execute(self._ba.credential_by_id, (key, key)).fetchone()
            if row is None:
                return None
            found = self._ba_rows.credential(row)
            ba = self._ba
            delete = ba.password_delete if found.type == "password" else ba.credential_delete
            if ex.execute(delete, (key,)).rowcount < 1:
                return None
        return found

    # -- housekeeping -------------------------------------------------------------------

    def purge_expired(self, now: datetime | None = None) -> dict[str, int]:
        cutoff = (self.dialect.dump_datetime(v.check_now(now)),)
        with self._transaction() as ex:
            sessions: int = ex.execute(self._ba.sessions_purge, cutoff).rowcount
            tokens: int = ex.execute(self._ba.tokens_purge, cutoff).rowcount
        return {"sessions": sessions, "verification_tokens": tokens}

    def export(self) -> Iterator[Model]:
        readers: dict[str, Callable[[Row], Model]] = {
            "users": self._rows.user,
            "accounts": self._ba_rows.account,
            "sessions": self._rows.session,
            "verification_tokens": self._rows.token,
            "authenticators": self._rows.authenticator,
            "credentials": self._ba_rows.credential,
        }
        with self._snapshot() as query:
            for collection, sql in self._ba.export.items():
                read = readers[collection]
                for row in query(sql):
                    yield read(row)

    def _import_steps(self, record: Model, now: datetime) -> list[Step]:
        if isinstance(record, User):
            return self._user_steps(v.prepare_user(record), now)
        if isinstance(record, Account):
            return self._account_steps(v.prepare_account(record), now)
        if isinstance(record, Session):
            return self._session_steps(v.prepare_session(record), now)
        if isinstance(record, VerificationToken):
            vt = v.prepare_verification_token(record)
            return [(self._ba.token_insert, self._ba_rows.token_params(vt, now))]
        if isinstance(record, Authenticator):
            a = v.prepare_authenticator(record)
            return [(self._ba.authenticator_insert, self._rows.authenticator_params(a))]
        v.check_imported(record)
        return self._credential_steps(v.prepare_credential(record))

    def import_records(self, records: Iterable[Model]) -> dict[str, int]:
        counts = dict.fromkeys(COLLECTIONS, 0)
        now = clock.now()
        pending: list[list[Step]] = []
        for record in records:
            steps = self._import_steps(record, now)  # validates before anything is written
            counts[collection_of(record)] += 1
            pending.append(steps)
            if len(pending) >= IMPORT_CHUNK:
                self._insert_steps(pending)
                pending = []
        self._insert_steps(pending)
        self._after_import()
        return counts

    def _insert_steps(self, records: list[list[Step]]) -> None:
        """One transaction; each statement's rows in one ``executemany``, in record order.

        Records arrive in dependency order and each record's statements in
        table order (a row before its side row), so running every row of the
        first statement seen, then of the next, keeps both orders.
        """
        if not records:
            return
        batches: dict[str, list[Params]] = {}
        for steps in records:
            for sql, params in steps:
                batches.setdefault(sql, []).append(params)
        with self._transaction() as ex:
            for sql, rows in batches.items():
                ex.executemany(sql, rows)

    # -- conventions (SharedWithAnotherApp) -----------------------------------------------

    def app_conventions(self) -> AppConventions:
        """Better Auth's: plain session tokens, its session timing, its password hashes."""
        return better_auth_conventions()

    # -- mapping checks (ChecksMapping, SupportsCheck) ----------------------------------

    def _catalog_sql(self) -> tuple[str, str]:
        """The backend's statements listing its tables, and a table's columns.

        The second has a ``{table}`` field (a quoted literal goes there) and
        yields (name, type, required: NOT NULL without a default).
        """
        raise NotImplementedError

    def unmappable_rows(self) -> list[Problem]:
        """Rows of Better Auth's tables this package cannot read as records, or reads in part.

        Kind ``unmappable``: not readable as a record (see
        ``better_auth_checks``); ``left-behind``: values only Better Auth's
        plugins read. Records are named by id, never by a value.
        """
        tables_sql, columns_sql = self._catalog_sql()
        with self._snapshot() as query:

            def rows(sql: str) -> list[Any]:
                return list(query(sql))

            def columns(table: str) -> list[Column] | None:
                literal = "'" + table.replace("'", "''") + "'"
                found = rows(columns_sql.format(table=literal))
                return [Column(n, str(k).lower(), bool(r)) for n, k, r in found] or None

            tables = [str(t) for (t,) in rows(tables_sql)]
            return unmappable_rows(rows, columns, tables)

    def check(self) -> CheckReport:
        """Rows this package cannot read as records (``SupportsCheck``)."""
        problems = [p for p in self.unmappable_rows() if p.kind == "unmappable"]
        return CheckReport(problems=problems, backend=self.backend)

    def mapping_problem(self, record: Model) -> Problem | None:
        """Why ``record`` cannot be stored in Better Auth's layout, or what the app can't use.

        Kind ``unmappable``: it cannot be stored (it is invalid, or names
        Better Auth's password provider, or holds a time Better Auth can't);
        ``app-cannot-use``: it is stored, but the Better Auth app cannot use it
        as it is (a password hash not in its format).
        """
        label = record_label(record)
        try:
            self._import_steps(record, clock.now())  # what storing it would check and convert
        except ValidationError as exc:
            return Problem("unmappable", collection_of(record), f"{label}: {exc}")
        if isinstance(record, Credential) and record.type == "password":
            hash_, _ = self._ba_rows.split_password(record.data)
            if hash_ is None or not is_better_auth_hash(hash_):
                return Problem(
                    "app-cannot-use",
                    "credentials",
                    f"{label}: not a hash in Better Auth's scrypt format; Better Auth's"
                    " default sign-in fails on it (HTTP 500) until the user signs in through"
                    " auth-store once (which rewrites it in Better Auth's format) or the app"
                    " verifies it (emailAndPassword.password.verify)",
                )
        return None

    def counts(self) -> dict[str, int]:
        row = self._fetchone(self._ba.counts, ())
        assert row is not None  # an aggregate always returns one row
        return {collection: int(n) for collection, n in zip(COLLECTIONS, row, strict=True)}
