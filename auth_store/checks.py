"""Consistency checks and repairs that work on any backend.

``check_store(store)`` reads every record once (through ``export()``) and
reports:

* **orphans** - accounts, sessions, authenticators and credentials whose
  user does not exist;
* **duplicates** - two records sharing a unique key (user id or normalised
  e-mail, provider account, account id, session token or id, verification
  token, credential id);
* **backend problems** - whatever the backend's own ``check()`` reports when
  it has one (``auth_store.capabilities.SupportsCheck``; the file store:
  index lines that disagree with records, stray temporary files, unreadable
  records);
* **expired rows** - sessions and verification tokens past their expiry.
  These are normal wear, not damage: they are counted, not failed on.

``check_store(store, repair=True)`` first lets the backend repair itself
(``repair()``, when it has one: ``SupportsRepair``), then removes orphans through the contract
(a placeholder user with the missing id is created and deleted, which
removes everything that points at it, on every backend), purges expired
rows, and checks again. Duplicates are never resolved automatically -
which copy is right is a human decision - so they stay in the report.

Reports name records by id and never print secret values.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from . import clock
from .adapter import Adapter
from .capabilities import SupportsCheck, SupportsRepair
from .errors import AuthStoreError, StorageError, ValidationError
from .jsonl import dumps_record
from .models import (
    COLLECTIONS,
    Account,
    Authenticator,
    Model,
    Session,
    User,
    VerificationToken,
)
from .problems import MAX_NAMED, CheckReport, Findings, Problem
from .records import collection_of
from .validation import check_aware, normalize_email

__all__ = [
    "MAX_NAMED",
    "CheckReport",
    "Findings",
    "Key",
    "Problem",
    "StoreScan",
    "backend_problems",
    "check_store",
    "record_digest",
    "record_key",
    "record_label",
]

Key = tuple[str, ...]


# -- record identity ---------------------------------------------------------


def record_key(record: Model) -> Key:
    """The identity of a record: its collection and primary unique key."""
    if isinstance(record, User):
        return ("users", str(record.id))
    if isinstance(record, Account):
        return ("accounts", record.provider, record.provider_account_id)
    if isinstance(record, Session):
        return ("sessions", record.session_token)
    if isinstance(record, VerificationToken):
        return ("verification_tokens", record.identifier, record.token)
    if isinstance(record, Authenticator):
        return ("authenticators", record.credential_id)
    return ("credentials", str(record.id))


def record_label(record: Model) -> str:
    """A printable name for a record that never includes a secret."""
    if isinstance(record, User):
        return f"user {record.id}"
    if isinstance(record, Account):
        return f"account {record.id} ({record.provider}/{record.provider_account_id})"
    if isinstance(record, Session):
        return f"session {record.id} of user {record.user_id}"
    if isinstance(record, VerificationToken):
        return f"verification token for {record.identifier} expiring {record.expires.isoformat()}"
    if isinstance(record, Authenticator):
        return f"authenticator {record.credential_id} of user {record.user_id}"
    return f"credential {record.id} ({record.type}) of user {record.user_id}"


def record_digest(record: Model) -> bytes:
    """A short hash of every field of a record: equal digests mean equal records."""
    return hashlib.blake2b(dumps_record(record).encode("utf-8"), digest_size=16).digest()


def _secondary_keys(record: Model) -> list[tuple[str, object]]:
    """Unique keys besides the primary one, as (name, value)."""
    if isinstance(record, User):
        try:
            email: object = normalize_email(record.email)
        except ValidationError:
            email = record.email
        return [("e-mail", email)]
    if isinstance(record, Account | Session):
        return [("id", record.id)]
    return []


def _owner(record: Model) -> str | None:
    if isinstance(record, User | VerificationToken):
        return None
    return record.user_id


def _shown(key: Key) -> str:
    # Session tokens and verification tokens are secrets: name only public keys.
    if key[0] in {"sessions", "verification_tokens"}:
        return ""
    return " (" + "/".join(key[1:]) + ")"


# -- scanning ----------------------------------------------------------------


class StoreScan:
    """One pass over a store's records: digests, orphans, duplicates and expired rows.

    Feed every record of ``export()`` to ``add``, then call ``finish``.
    """

    def __init__(self, findings: Findings, now: datetime | None = None) -> None:
        self.findings = findings
        self.now = now
        self.digests: dict[Key, bytes] = {}
        self.exported = dict.fromkeys(COLLECTIONS, 0)
        self.expired = {"sessions": 0, "verification_tokens": 0}
        self.user_ids: set[str] = set()
        self.orphan_owners: set[str] = set()
        self._owned: list[tuple[str, str, str]] = []  # (collection, label, user_id)
        self._seen: dict[tuple[str, object], str] = {}

    def add(self, record: Model) -> None:
        """Take one record into account."""
        collection = collection_of(record)
        key = record_key(record)
        label = record_label(record)
        self.exported[collection] += 1
        if key in self.digests:
            what = "session token" if collection == "sessions" else "key"
            first = self._seen.get((collection, key), "another record")
            self.findings.add(
                "duplicate", collection, f"{label} and {first} share one {what}{_shown(key)}"
            )
        else:
            self.digests[key] = record_digest(record)
            self._seen[(collection, key)] = label
        for name, value in _secondary_keys(record):
            slot = (collection, (name, value))
            if slot in self._seen:
                self.findings.add(
                    "duplicate",
                    collection,
                    f"{label} and {self._seen[slot]} share one {name} ({value})",
                )
            else:
                self._seen[slot] = label
        if isinstance(record, User):
            self.user_ids.add(str(record.id))
        owner = _owner(record)
        if owner is not None:
            self._owned.append((collection, label, owner))
        if (
            self.now is not None
            and isinstance(record, Session | VerificationToken)
            and record.expires < self.now
        ):
            self.expired[collection] += 1

    def finish(self) -> None:
        """Report orphans (known only once every user has been seen)."""
        for collection, label, owner in self._owned:
            if owner not in self.user_ids:
                self.orphan_owners.add(owner)
                self.findings.add(
                    "orphan", collection, f"{label} points at user {owner}, which does not exist"
                )
        self._owned.clear()
        self._seen.clear()


# -- the backend's own check -------------------------------------------------


def backend_problems(store: Adapter) -> list[Problem]:
    """What the backend's own ``check()`` reports, each as a ``backend`` problem.

    ``[]`` for a backend without one (see ``SupportsCheck``).
    """
    if not isinstance(store, SupportsCheck):
        return []
    try:
        report = store.check()
    except AuthStoreError as exc:
        return [Problem("backend", "store", f"the backend's own check failed: {exc}")]
    return [_as_backend(problem) for problem in report.problems]


def _as_backend(problem: Problem) -> Problem:
    where = f"{problem.path}: " if problem.path else ""
    message = f"{problem.kind}: {where}{problem.message}"
    return Problem("backend", problem.collection, message, path=problem.path)


def _backend_repair(store: Adapter) -> list[Problem]:
    """Run the backend's own ``repair()``; what it fixed (``[]`` without one)."""
    if not isinstance(store, SupportsRepair):
        return []
    return [_as_backend(problem) for problem in store.repair().repaired]


# -- check and repair --------------------------------------------------------


def _scan(store: Adapter, now: datetime) -> tuple[StoreScan, list[Problem]]:
    findings = Findings()
    scan = StoreScan(findings, now)
    try:
        for record in store.export():
            scan.add(record)
    except StorageError as exc:
        # A row the backend cannot read (another app wrote it): its own check names it.
        findings.add("unreadable", "store", f"reading every record stopped: {exc}")
    scan.finish()
    counts = store.counts()
    for collection in COLLECTIONS:
        if counts.get(collection, 0) != scan.exported[collection]:
            findings.add(
                "count_mismatch",
                collection,
                f"the store counts {counts.get(collection, 0)} {collection} "
                f"but exports {scan.exported[collection]}",
            )
    for problem in backend_problems(store):
        findings.add(problem.kind, problem.collection, problem.message)
    return scan, findings.close()


def _remove_orphans(store: Adapter, owner: str) -> Problem:
    """Remove every record pointing at the missing user ``owner``.

    A placeholder user with that id is created and deleted at once:
    ``delete_user`` removes a user's records on every backend, including
    authenticators, which the contract has no other way to delete.
    """
    placeholder = User(id=owner, email=f"orphan-repair-{uuid.uuid4().hex}@invalid")
    store.create_user(placeholder)
    store.delete_user(owner)
    return Problem("orphan", "users", f"removed the records of missing user {owner}")


def check_store(
    store: Adapter, *, repair: bool = False, now: datetime | None = None
) -> CheckReport:
    """Check (and with ``repair``, fix what can be fixed in) any store; see the module doc."""
    cutoff = clock.now() if now is None else check_aware(now, "now")
    report = CheckReport(backend=store.backend)
    scan, problems = _scan(store, cutoff)
    failed: list[Problem] = []
    if repair:
        report.repaired.extend(_backend_repair(store))
        if report.repaired:
            scan, problems = _scan(store, cutoff)
        for owner in sorted(scan.orphan_owners):
            try:
                report.repaired.append(_remove_orphans(store, owner))
            except AuthStoreError as exc:
                message = f"could not remove the records of missing user {owner}: {exc}"
                failed.append(Problem("orphan", "users", message))
        purged = store.purge_expired(cutoff)
        for collection, n in purged.items():
            if n:
                report.repaired.append(
                    Problem("expired", collection, f"purged {n} expired {collection}")
                )
        scan, problems = _scan(store, cutoff)
    report.counts = dict(store.counts())
    report.expired = dict(scan.expired)
    report.problems = problems + failed
    return report
