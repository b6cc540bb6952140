"""Copy a whole store into another one, then prove the copy is complete.

``migrate(source, target)`` reads the source only through ``export()`` and
``counts()`` (it never writes to it), writes the target through
``import_records`` in batches, in dependency order (users, accounts,
sessions, verification tokens, authenticators, credentials), keeping ids,
timestamps and ciphertexts as they are. It then runs ``verify``.

Rules:

* The target must be empty, unless ``merge=True`` - or unless everything it
  holds is already in the source, equal record for record: that is what an
  interrupted run leaves behind, so a rerun of the same migration resumes
  it. Records already present and equal are skipped, never written twice.
* With ``merge=True`` the source's records are added to what the target
  holds. A record whose key exists in the target with other content is a
  conflict: it is left alone and reported, and the migration fails.

``verify(source, target)`` reads both stores completely and reports, naming
each problem: counts per collection that differ, records missing from or
different in the target, records the target has beyond the source (unless
``allow_extra``), orphans (accounts, sessions, authenticators, credentials
whose user does not exist), duplicate unique keys, a sample of records
looked up through the target's own indices (by e-mail, provider account,
session token, credential id) and compared field by field, and the target's
own consistency check when the backend has one (``SupportsCheck``, e.g. the
file store's indices). Reports never contain secret values (tokens, hashes,
ciphertexts): records are named by id, and differing fields by name only.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from .adapter import Adapter
from .capabilities import ChecksMapping, ProgressCallback, StoredAtPath, SupportsSchema
from .checks import (
    Key,
    StoreScan,
    backend_problems,
    record_digest,
    record_key,
    record_label,
)
from .connect import backend_class, connect
from .errors import (
    AuthStoreError,
    ConfigurationError,
    ConflictError,
    ErrorCode,
    ValidationError,
)
from .jsonl import dumps_record
from .models import (
    COLLECTIONS,
    Account,
    Authenticator,
    Credential,
    Model,
    Session,
    User,
    VerificationToken,
)
from .problems import Findings, Problem, Report
from .records import collection_of, to_dict

__all__ = [
    "MigrationResult",
    "Problem",
    "ProgressCallback",
    "Source",
    "TargetNotEmptyError",
    "VerificationReport",
    "migrate",
    "open_source",
    "record_label",
    "store_path",
    "verify",
    "without_migrations",
]

_PROGRESS_EVERY = 250


class TargetNotEmptyError(ConflictError):
    """The migration target holds records that are not in the source (and no merge)."""

    code = ErrorCode.TARGET_NOT_EMPTY


class Source(Protocol):
    """What a migration reads: a store, or an export file (``jsonl.JsonlSource``)."""

    def export(self) -> Iterator[Model]:
        """Every record in dependency order."""
        ...

    def counts(self) -> dict[str, int]:
        """Records per collection."""
        ...


@dataclass
class VerificationReport(Report):
    """The outcome of ``verify``: ``ok`` when the target was found complete and consistent."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    compared: int = 0
    sampled: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dict."""
        return {
            **super().to_dict(),
            "counts": self.counts,
            "compared": self.compared,
            "sampled": self.sampled,
        }


@dataclass
class MigrationResult:
    """What ``migrate`` did: records copied and skipped, copy problems, the verification.

    ``warnings`` name what was copied but loses something on the way (values
    only the source's framework reads), or what the target's framework
    cannot use as it is; they do not make the migration fail.
    """

    copied: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLLECTIONS, 0))
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLLECTIONS, 0))
    problems: list[Problem] = field(default_factory=list)
    report: VerificationReport | None = None
    resumed: bool = False
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every record was copied and the verification (if run) passed."""
        return not self.problems and (self.report is None or self.report.ok)

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-ready dict."""
        return {
            "ok": self.ok,
            "resumed": self.resumed,
            "copied": self.copied,
            "skipped": self.skipped,
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [p.to_dict() for p in self.warnings],
            "verification": None if self.report is None else self.report.to_dict(),
        }


# -- opening stores ----------------------------------------------------------


def store_path(url: str) -> Path | None:
    """The local path a URL names, as its backend parses it (``None``: not on the local disk).

    Asks the backend (``StoredAtPath``): a URL the backend would refuse is a
    ``ConfigurationError`` here too.
    """
    cls = backend_class(url)
    return cls.path_from_url(url) if issubclass(cls, StoredAtPath) else None


def without_migrations(url: str) -> str:
    """``url`` with ``migrate=false`` added when its backend has a versioned schema.

    A backend with ``SupportsSchema`` takes that option (see its docstring).
    """
    if not issubclass(backend_class(url), SupportsSchema):
        return url
    parts = urlsplit(url)
    if any(name == "migrate" for name, _ in parse_qsl(parts.query, keep_blank_values=True)):
        return url
    # Appended as text: rebuilding with urlunsplit would turn sqlite://// into sqlite://.
    base, _, fragment = url.partition("#")
    joined = f"{base}{'&' if parts.query else '?'}migrate=false"
    return f"{joined}#{fragment}" if fragment else joined


def open_source(url: str) -> Adapter:
    """Open a store to read from, without changing it.

    The store must exist (``NoStoreError`` otherwise: opening it would
    create an empty store, and a migration from it would copy nothing and
    succeed). A store with a versioned schema (``SupportsSchema``) is opened
    without applying migrations; one whose schema is behind this auth-store
    is refused with the command that upgrades it, so that changing the
    source is always explicit.
    """
    store = connect(without_migrations(url), create=False)
    if isinstance(store, SupportsSchema):
        current = store.schema_version()
        latest = max((m.version for m in store.schema_status()), default=0)
        if current < latest:
            store.close()
            raise ConfigurationError(
                f"the store's schema is at version {current} and this auth-store reads "
                f"version {latest}; upgrade it first with `auth-store --url URL schema "
                "upgrade` (this changes that store)"
            )
    return store


# -- the copy ----------------------------------------------------------------


class _Ticker:
    def __init__(self, progress: ProgressCallback | None, phase: str, total: int) -> None:
        self.progress, self.phase, self.total, self.done = progress, phase, total, 0
        if progress is not None:
            progress(phase, 0, total)

    def tick(self, n: int = 1) -> None:
        before = self.done
        self.done += n
        if self.progress is not None and (
            self.done // _PROGRESS_EVERY != before // _PROGRESS_EVERY
        ):
            self.progress(self.phase, self.done, max(self.total, self.done))

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.phase, self.done, max(self.total, self.done))


def _digest_index(store: Source, progress: ProgressCallback | None, phase: str) -> dict[Key, bytes]:
    ticker = _Ticker(progress, phase, sum(store.counts().values()))
    index: dict[Key, bytes] = {}
    for record in store.export():
        index[record_key(record)] = record_digest(record)
        ticker.tick()
    ticker.finish()
    return index


def _find_in(target: Adapter, record: Model) -> Model | None:
    """The target's record with the same primary key, looked up through the contract."""
    if isinstance(record, User):
        return target.get_user(str(record.id))
    if isinstance(record, Account):
        return target.get_account(record.provider, record.provider_account_id)
    if isinstance(record, Session):
        found = target.get_session_and_user(record.session_token)
        return None if found is None else found[0]
    if isinstance(record, Authenticator):
        return target.get_authenticator(record.credential_id)
    if isinstance(record, Credential):
        return target.get_credential(str(record.id))
    # Verification tokens can only be read by consuming them: scan the export.
    key = record_key(record)
    for other in target.export():
        if isinstance(other, VerificationToken) and record_key(other) == key:
            return other
    return None


class _Copier:
    def __init__(self, target: Adapter, result: MigrationResult) -> None:
        self.target, self.result = target, result

    def flush(self, batch: list[Model]) -> None:
        if not batch:
            return
        try:
            counts = self.target.import_records(batch)
        except AuthStoreError:
            # Find the culprit one record at a time; the batch may have been
            # partly stored before it failed (backends without transactions).
            for record in batch:
                self._one(record)
            return
        for collection, n in counts.items():
            self.result.copied[collection] = self.result.copied.get(collection, 0) + n

    def _one(self, record: Model) -> None:
        collection = collection_of(record)
        try:
            self.target.import_records([record])
        except AuthStoreError as exc:
            try:
                stored = _find_in(self.target, record)
            except AuthStoreError:
                stored = None
            if stored is not None and dumps_record(stored) == dumps_record(record):
                self.result.copied[collection] += 1
                return
            self.result.problems.append(
                Problem("conflict", collection, f"{record_label(record)} was not copied: {exc}")
            )
            return
        self.result.copied[collection] += 1


def migrate(
    source: Source,
    target: Adapter,
    *,
    merge: bool = False,
    batch_size: int = 500,
    sample: int = 100,
    verify_after: bool = True,
    progress: ProgressCallback | None = None,
) -> MigrationResult:
    """Copy every record of ``source`` into ``target``, then verify (see the module doc).

    Raises ``TargetNotEmptyError`` before writing anything when the target
    holds records that are not in the source and ``merge`` is false. When
    either store keeps another framework's layout (``ChecksMapping``), what
    does not map is found first: a row or record that cannot map at all is a
    problem and nothing is written; what maps only in part is a warning.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError("batch_size must be a positive int")
    result = MigrationResult()
    existing = _digest_index(target, progress, "read target")
    total = sum(source.counts().values())
    if existing and not merge:
        _check_resumable(source, existing, progress, total)
        result.resumed = True

    blocking, result.warnings = _mapping_problems(source, target, progress, total)
    if blocking:
        result.problems = blocking
        return result

    copier = _Copier(target, result)
    ticker = _Ticker(progress, "copy", total)
    batch: list[Model] = []
    for record in source.export():
        ticker.tick()
        key = record_key(record)
        stored = existing.get(key)
        if stored is None:
            batch.append(record)
            if len(batch) >= batch_size:
                copier.flush(batch)
                batch = []
        elif stored == record_digest(record):
            result.skipped[key[0]] += 1
        else:
            result.problems.append(
                Problem(
                    "conflict",
                    key[0],
                    f"{record_label(record)} exists in the target with other content; "
                    "left as it is",
                )
            )
    copier.flush(batch)
    ticker.finish()

    if verify_after:
        result.report = verify(source, target, allow_extra=merge, sample=sample, progress=progress)
    return result


def _mapping_problems(
    source: Source, target: Adapter, progress: ProgressCallback | None, total: int
) -> tuple[list[Problem], list[Problem]]:
    """What does not map between the two layouts: (blocking problems, warnings)."""
    blocking, warnings = Findings(), Findings()

    def add(problem: Problem) -> None:
        found = blocking if problem.kind == "unmappable" else warnings
        found.add(problem.kind, problem.collection, problem.message)

    if isinstance(source, ChecksMapping):
        for row in source.unmappable_rows():
            add(row)
    if isinstance(target, ChecksMapping):
        ticker = _Ticker(progress, "check mapping", total)
        for record in source.export():
            ticker.tick()
            found = target.mapping_problem(record)
            if found is not None:
                add(found)
        ticker.finish()
    return blocking.close(), warnings.close()


def _check_resumable(
    source: Source, existing: dict[Key, bytes], progress: ProgressCallback | None, total: int
) -> None:
    pending = set(existing)
    ticker = _Ticker(progress, "compare", total)
    for record in source.export():
        ticker.tick()
        key = record_key(record)
        if key in pending and existing[key] == record_digest(record):
            pending.discard(key)
    ticker.finish()
    if pending:
        raise TargetNotEmptyError(
            f"the target is not empty: it holds {len(pending)} record(s) that are not in the "
            "source (or differ from it); migrate into an empty store, or pass --merge to add "
            "the source's records to it"
        )


# -- verification ------------------------------------------------------------


def verify(
    source: Source,
    target: Adapter,
    *,
    allow_extra: bool = False,
    sample: int = 100,
    progress: ProgressCallback | None = None,
    check_backend: bool = True,
) -> VerificationReport:
    """Compare ``target`` with ``source`` completely; see the module doc for what is checked."""
    findings = Findings()
    source_counts = source.counts()
    target_counts = target.counts()

    scan = StoreScan(findings)
    ticker = _Ticker(progress, "verify target", sum(target_counts.values()))
    for record in target.export():
        scan.add(record)
        ticker.tick()
    ticker.finish()
    scan.finish()

    remaining = dict(scan.digests)
    chosen: list[Model] = []
    rng = random.Random()
    compared = equal = 0
    source_exported = dict.fromkeys(COLLECTIONS, 0)
    ticker = _Ticker(progress, "verify source", sum(source_counts.values()))
    for record in source.export():
        ticker.tick()
        collection = collection_of(record)
        source_exported[collection] += 1
        compared += 1
        stored = remaining.pop(record_key(record), None)
        if stored is None:
            findings.add("missing", collection, f"{record_label(record)} is not in the target")
            continue
        if stored != record_digest(record):
            findings.add("different", collection, f"{record_label(record)} differs in the target")
            continue
        equal += 1
        if sample > 0:  # reservoir sampling: a uniform sample in one pass
            if len(chosen) < sample:
                chosen.append(record)
            else:
                slot = rng.randrange(equal)
                if slot < sample:
                    chosen[slot] = record
    ticker.finish()

    extra = dict.fromkeys(COLLECTIONS, 0)
    for key in remaining:
        extra[key[0]] += 1
    if remaining and not allow_extra:
        for record in target.export():
            if record_key(record) in remaining:
                findings.add(
                    "extra",
                    collection_of(record),
                    f"{record_label(record)} is in the target but not in the source",
                )

    counts: dict[str, dict[str, int]] = {}
    for collection in COLLECTIONS:
        expected = source_counts.get(collection, 0) + (extra[collection] if allow_extra else 0)
        got = target_counts.get(collection, 0)
        counts[collection] = {
            "source": source_counts.get(collection, 0),
            "target": got,
            "expected": expected,
        }
        if got != expected:
            findings.add(
                "count_mismatch",
                collection,
                f"the target has {got} {collection}, expected {expected}",
            )
        if scan.exported[collection] != got:
            findings.add(
                "count_mismatch",
                collection,
                f"the target counts {got} {collection} but exports {scan.exported[collection]}",
            )
        if source_exported[collection] != source_counts.get(collection, 0):
            findings.add(
                "count_mismatch",
                collection,
                f"the source counts {source_counts.get(collection, 0)} {collection} "
                f"but exports {source_exported[collection]}",
            )

    for record in chosen:
        for message in _lookup_problems(target, record):
            findings.add("lookup", collection_of(record), message)

    if check_backend:
        for problem in backend_problems(target):
            findings.add(problem.kind, problem.collection, problem.message)

    return VerificationReport(
        counts=counts, problems=findings.close(), compared=compared, sampled=len(chosen)
    )


def _differing_fields(a: Model, b: Model) -> list[str]:
    left, right = to_dict(a), to_dict(b)
    return sorted(name for name in left if left[name] != right.get(name))


def _lookup_problems(target: Adapter, record: Model) -> Iterable[str]:
    """Look ``record`` up through the target's indices and compare field by field."""
    label = record_label(record)
    try:
        if isinstance(record, VerificationToken):
            return []  # no lookup without consuming; compared by the full pass
        found = _find_in(target, record)
        if found is None:
            return [f"{label}: not found by its key in the target"]
        differing = _differing_fields(record, found)
        if differing:
            return [f"{label}: field(s) {', '.join(differing)} differ in the target"]
        return list(_secondary_lookups(target, record))
    except AuthStoreError as exc:
        return [f"{label}: looking it up in the target failed: {exc}"]


def _secondary_lookups(target: Adapter, record: Model) -> Iterator[str]:
    label = record_label(record)
    if isinstance(record, User):
        by_email = target.get_user_by_email(record.email)
        if by_email is None or by_email.id != record.id:
            yield f"{label}: the lookup by e-mail does not find it"
    elif isinstance(record, Account):
        user = target.get_user_by_account(record.provider, record.provider_account_id)
        if user is None or user.id != record.user_id:
            yield f"{label}: the lookup of its user by provider account fails"
    elif isinstance(record, Session):
        if record.id not in {s.id for s in target.list_sessions(record.user_id)}:
            yield f"{label}: not listed among its user's sessions"
    elif isinstance(record, Authenticator):
        listed = target.list_authenticators_by_user_id(record.user_id)
        if record.credential_id not in {a.credential_id for a in listed}:
            yield f"{label}: not listed among its user's authenticators"
    elif isinstance(record, Credential):
        listed_ids = {c.id for c in target.list_credentials(record.user_id, record.type)}
        if record.id not in listed_ids:
            yield f"{label}: not listed among its user's credentials of its type"
