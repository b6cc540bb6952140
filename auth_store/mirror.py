"""``MirrorAdapter``: write to two stores, read from one - for moves without downtime.

While an application moves from one backend to another it runs on a mirror:
every write goes to the *primary* (the store of record) and then, with the
record exactly as the primary stored it (same id, same timestamps), to the
*secondary*. Reads come from the primary. With ``compare_reads=True`` every
read is also made on the secondary and any difference is reported as a
``Divergence`` - the "dual" mode teams run while they switch.

The usual move::

    1. auth-store migrate --from OLD --to NEW        (copy + verify)
    2. run the app on MirrorAdapter(OLD, NEW)         (both stay in step)
    3. auth-store verify --from OLD --to NEW          (still equal?)
    4. run the app on MirrorAdapter(NEW, OLD), then on NEW alone

Guarantees and limits:

* The primary decides: its result (or its error) is what the caller gets. A
  write that fails on the primary is not sent to the secondary.
* A write that fails on the secondary is recorded as a divergence and the
  primary's result is returned; with ``strict=True`` the secondary's error
  is raised instead (after the primary has been written).
* Within one process the two writes of an operation happen under one lock,
  so the secondary sees writes in the primary's order; with
  ``compare_reads=True`` the two reads of a lookup take that lock too, so a
  concurrent write is never mistaken for a divergence. Writers in several
  processes can interleave differently on the two stores; ``compare()``
  (a full verification) finds any such drift, and ``migrate --merge`` or a
  fresh migration repairs it.
* A credential update is applied to the secondary as a replacement of the
  record (delete, then create the primary's result), so version and
  ``updated_at`` are identical on both sides; compare-and-set is decided by
  the primary alone.

Divergence messages name records by id and never carry secret values.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from .adapter import Adapter
from .checks import record_label
from .errors import AuthStoreError
from .jsonl import dumps_record
from .migration import ProgressCallback, VerificationReport, verify
from .models import Account, Authenticator, Credential, Model, Session, User, VerificationToken
from .validation import check_now

__all__ = ["Divergence", "MirrorAdapter"]

logger = logging.getLogger("auth_store.mirror")

T = TypeVar("T")


@dataclass(frozen=True)
class Divergence:
    """A difference between primary and secondary, found on a read or a write."""

    operation: str
    message: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.message}"


def _canonical(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, User | Account | Session | VerificationToken | Authenticator | Credential):
        return dumps_record(value)
    return value


def _describe(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return f"{len(value)} record(s)"
    if isinstance(value, tuple):
        return " with ".join(_describe(item) for item in value)
    if isinstance(value, User | Account | Session | VerificationToken | Authenticator | Credential):
        return record_label(value)
    return repr(value)


class MirrorAdapter(Adapter):
    """An ``Adapter`` over two stores: writes to both, reads from the primary."""

    backend = "mirror"

    def __init__(
        self,
        primary: Adapter,
        secondary: Adapter,
        *,
        compare_reads: bool = False,
        strict: bool = False,
        on_divergence: Callable[[Divergence], None] | None = None,
        keep: int = 1000,
    ) -> None:
        self.primary = primary
        self.secondary = secondary
        self.compare_reads = compare_reads
        self.strict = strict
        self.on_divergence = on_divergence
        #: The most recent divergences (at most ``keep``), oldest first.
        self.divergences: deque[Divergence] = deque(maxlen=keep)
        self._lock = threading.RLock()

    # -- plumbing ------------------------------------------------------------

    def _diverged(self, operation: str, message: str) -> None:
        divergence = Divergence(operation, message)
        self.divergences.append(divergence)
        logger.warning("mirror divergence: %s", divergence)
        if self.on_divergence is not None:
            self.on_divergence(divergence)

    def _write(self, operation: str, primary_call: Callable[[], T], secondary_call: Any) -> T:
        """Run ``primary_call``, then ``secondary_call(primary_result)``; compare results."""
        with self._lock:
            result = primary_call()
            try:
                mirrored = secondary_call(result)
            except AuthStoreError as exc:
                if self.strict:
                    raise
                self._diverged(
                    operation, f"the secondary failed after the primary succeeded: {exc}"
                )
                return result
            if mirrored is not _SKIP and _canonical(mirrored) != _canonical(result):
                self._diverged(
                    operation,
                    f"the primary returned {_describe(result)}, "
                    f"the secondary {_describe(mirrored)}",
                )
            return result

    def _read(self, operation: str, primary_call: Callable[[Adapter], T]) -> T:
        if not self.compare_reads:
            return primary_call(self.primary)
        # Under the writers' lock: a write of this process landing between the
        # two reads would otherwise be reported as a divergence.
        with self._lock:
            result = primary_call(self.primary)
            try:
                other = primary_call(self.secondary)
            except AuthStoreError as exc:
                self._diverged(operation, f"the secondary failed: {exc}")
                return result
        if _canonical(other) != _canonical(result):
            self._diverged(
                operation,
                f"the primary has {_describe(result)}, the secondary {_describe(other)}",
            )
        return result

    def compare(
        self, *, sample: int = 100, progress: ProgressCallback | None = None
    ) -> VerificationReport:
        """Compare the two stores completely (``auth_store.migration.verify``)."""
        return verify(self.primary, self.secondary, sample=sample, progress=progress)

    # -- users ---------------------------------------------------------------

    def create_user(self, user: User) -> User:
        return self._write(
            "create_user", lambda: self.primary.create_user(user), self.secondary.create_user
        )

    def get_user(self, id: str) -> User | None:
        return self._read("get_user", lambda s: s.get_user(id))

    def get_user_by_email(self, email: str) -> User | None:
        return self._read("get_user_by_email", lambda s: s.get_user_by_email(email))

    def get_user_by_account(self, provider: str, provider_account_id: str) -> User | None:
        return self._read(
            "get_user_by_account", lambda s: s.get_user_by_account(provider, provider_account_id)
        )

    def update_user(self, id: str, **changes: Any) -> User:
        return self._write(
            "update_user",
            lambda: self.primary.update_user(id, **changes),
            lambda _: self.secondary.update_user(id, **changes),
        )

    def delete_user(self, id: str) -> User | None:
        return self._write(
            "delete_user",
            lambda: self.primary.delete_user(id),
            lambda _: self.secondary.delete_user(id),
        )

    # -- accounts ------------------------------------------------------------

    def link_account(self, account: Account) -> Account:
        return self._write(
            "link_account", lambda: self.primary.link_account(account), self.secondary.link_account
        )

    def unlink_account(self, provider: str, provider_account_id: str) -> Account | None:
        return self._write(
            "unlink_account",
            lambda: self.primary.unlink_account(provider, provider_account_id),
            lambda _: self.secondary.unlink_account(provider, provider_account_id),
        )

    def get_account(self, provider: str, provider_account_id: str) -> Account | None:
        return self._read("get_account", lambda s: s.get_account(provider, provider_account_id))

    def update_account(
        self, provider: str, provider_account_id: str, **changes: Any
    ) -> Account | None:
        return self._write(
            "update_account",
            lambda: self.primary.update_account(provider, provider_account_id, **changes),
            lambda _: self.secondary.update_account(provider, provider_account_id, **changes),
        )

    def list_accounts(self, user_id: str) -> list[Account]:
        return self._read("list_accounts", lambda s: s.list_accounts(user_id))

    # -- sessions ------------------------------------------------------------

    def create_session(self, session: Session) -> Session:
        return self._write(
            "create_session",
            lambda: self.primary.create_session(session),
            self.secondary.create_session,
        )

    def get_session_and_user(self, session_token: str) -> tuple[Session, User] | None:
        return self._read("get_session_and_user", lambda s: s.get_session_and_user(session_token))

    def update_session(self, session_token: str, **changes: Any) -> Session | None:
        return self._write(
            "update_session",
            lambda: self.primary.update_session(session_token, **changes),
            lambda _: self.secondary.update_session(session_token, **changes),
        )

    def delete_session(self, session_token: str) -> Session | None:
        return self._write(
            "delete_session",
            lambda: self.primary.delete_session(session_token),
            lambda _: self.secondary.delete_session(session_token),
        )

    def list_sessions(self, user_id: str) -> list[Session]:
        return self._read("list_sessions", lambda s: s.list_sessions(user_id))

    def delete_sessions(self, user_id: str) -> int:
        return self._write(
            "delete_sessions",
            lambda: self.primary.delete_sessions(user_id),
            lambda _: self.secondary.delete_sessions(user_id),
        )

    # -- verification tokens -------------------------------------------------

    def create_verification_token(self, vt: VerificationToken) -> VerificationToken:
        return self._write(
            "create_verification_token",
            lambda: self.primary.create_verification_token(vt),
            self.secondary.create_verification_token,
        )

    def use_verification_token(self, identifier: str, token: str) -> VerificationToken | None:
        return self._write(
            "use_verification_token",
            lambda: self.primary.use_verification_token(identifier, token),
            lambda _: self.secondary.use_verification_token(identifier, token),
        )

    # -- authenticators ------------------------------------------------------

    def create_authenticator(self, a: Authenticator) -> Authenticator:
        return self._write(
            "create_authenticator",
            lambda: self.primary.create_authenticator(a),
            self.secondary.create_authenticator,
        )

    def get_authenticator(self, credential_id: str) -> Authenticator | None:
        return self._read("get_authenticator", lambda s: s.get_authenticator(credential_id))

    def list_authenticators_by_user_id(self, user_id: str) -> list[Authenticator]:
        return self._read(
            "list_authenticators_by_user_id", lambda s: s.list_authenticators_by_user_id(user_id)
        )

    def update_authenticator_counter(self, credential_id: str, counter: int) -> Authenticator:
        return self._write(
            "update_authenticator_counter",
            lambda: self.primary.update_authenticator_counter(credential_id, counter),
            lambda _: self.secondary.update_authenticator_counter(credential_id, counter),
        )

    def delete_authenticator(self, credential_id: str) -> Authenticator | None:
        return self._write(
            "delete_authenticator",
            lambda: self.primary.delete_authenticator(credential_id),
            lambda _: self.secondary.delete_authenticator(credential_id),
        )

    # -- credentials ---------------------------------------------------------

    def create_credential(self, c: Credential) -> Credential:
        return self._write(
            "create_credential",
            lambda: self.primary.create_credential(c),
            self.secondary.create_credential,
        )

    def get_credential(self, id: str) -> Credential | None:
        return self._read("get_credential", lambda s: s.get_credential(id))

    def list_credentials(self, user_id: str, type: str | None = None) -> list[Credential]:
        return self._read("list_credentials", lambda s: s.list_credentials(user_id, type))

    def update_credential(
        self, id: str, data: dict[str, Any], *, expected_version: int
    ) -> Credential | None:
        def replace_on_secondary(updated: Credential | None) -> object:
            if updated is None:  # the primary refused (stale version): nothing to mirror
                return _SKIP
            self.secondary.delete_credential(id)
            return self.secondary.create_credential(updated)

        return self._write(
            "update_credential",
            lambda: self.primary.update_credential(id, data, expected_version=expected_version),
            replace_on_secondary,
        )

    def delete_credential(self, id: str) -> Credential | None:
        return self._write(
            "delete_credential",
            lambda: self.primary.delete_credential(id),
            lambda _: self.secondary.delete_credential(id),
        )

    # -- housekeeping --------------------------------------------------------

    def purge_expired(self, now: datetime | None = None) -> dict[str, int]:
        cutoff = check_now(now)
        return self._write(
            "purge_expired",
            lambda: self.primary.purge_expired(cutoff),
            lambda _: self.secondary.purge_expired(cutoff),
        )

    def export(self) -> Iterator[Model]:
        return self.primary.export()

    def import_records(self, records: Iterable[Model]) -> dict[str, int]:
        batch = list(records)
        return self._write(
            "import_records",
            lambda: self.primary.import_records(batch),
            lambda _: self.secondary.import_records(batch),
        )

    def counts(self) -> dict[str, int]:
        return self._read("counts", lambda s: s.counts())

    def health(self) -> dict[str, Any]:
        primary = self.primary.health()
        try:
            secondary = self.secondary.health()
        except AuthStoreError as exc:
            secondary = {"backend": self.secondary.backend, "ok": False, "error": str(exc)}
        return {
            "backend": self.backend,
            "ok": bool(primary.get("ok")) and bool(secondary.get("ok")),
            "primary": primary,
            "secondary": secondary,
            "divergences": len(self.divergences),
        }

    def close(self) -> None:
        try:
            self.primary.close()
        finally:
            self.secondary.close()


_SKIP = object()
