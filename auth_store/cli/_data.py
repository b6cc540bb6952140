"""Moving data: migrate, verify, export, import, backup, restore."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console

from auth_store import backup as backups
from auth_store.errors import AuthStoreError, ConfigurationError, ValidationError
from auth_store.jsonl import JsonlSource, export_file, write_jsonl
from auth_store.migration import (
    MigrationResult,
    TargetNotEmptyError,
    VerificationReport,
    migrate,
    open_source,
    store_path,
    verify,
)
from auth_store.models import COLLECTIONS
from auth_store.output_file import OutputExistsError, check_output

from ._common import (
    BadUsage,
    CommandFailed,
    PathParam,
    State,
    counts_table,
    describe,
    emit,
    fail,
    pass_state,
    progress_bar,
)

_BATCH = click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Records written per batch.",
)
_SAMPLE = click.option(
    "--sample",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Records looked up in the target through its indices and compared field by field "
    "(every record is also compared by content hash).",
)


def render_verification(console: Console, report: VerificationReport) -> None:
    """Print a verification report: counts per collection, then each problem."""
    rows = [
        [c, n["source"], n["target"], "ok" if n["target"] == n["expected"] else "MISMATCH"]
        for c, n in report.counts.items()
    ]
    console.print(counts_table("Verification", ["collection", "source", "target", ""], rows))
    console.print(
        f"compared {report.compared} record(s) by content, "
        f"looked up {report.sampled} through the target's indices"
    )
    if report.ok:
        console.print("[bold green]verification passed[/]")
        return
    console.print(f"[bold red]verification FAILED: {len(report.problems)} problem(s)[/]")
    for problem in report.problems:
        console.print(f"  {problem}", markup=False)


def render_migration(console: Console, result: MigrationResult) -> None:
    """Print what a migration copied, its copy problems, and its verification."""
    rows = [[c, result.copied.get(c, 0), result.skipped.get(c, 0)] for c in COLLECTIONS]
    title = "Migration (resumed)" if result.resumed else "Migration"
    console.print(counts_table(title, ["collection", "copied", "already there"], rows))
    for problem in result.problems:
        console.print(f"  {problem}", markup=False)
    if result.problems and result.report is None:
        console.print("[bold red]nothing was written[/]: fix the rows named above, then run again")
    for warning in result.warnings:
        console.print(f"  warning: {warning}", markup=False)
    if result.report is not None:
        render_verification(console, result.report)


def _failure(what: str, result: MigrationResult) -> str:
    if result.report is None and result.problems:
        return f"the {what} wrote nothing: some rows cannot map; see the report above"
    return f"the {what} did not verify; see the report above"


@contextmanager
def _stopped_part_way(what: str) -> Iterator[None]:
    """Say so when a copy into a store fails after it may have written part of it."""
    try:
        yield
    except (TargetNotEmptyError, ConfigurationError, ValidationError):
        raise  # refused before anything was written
    except AuthStoreError as exc:
        raise CommandFailed(
            f"{describe(exc)}\n"
            f"The {what} stopped part-way: the target may now hold part of the copy. "
            "Run the same command again to resume (records already copied are skipped)."
        ) from exc


def _refuse_same_store(source_url: str, target_url: str) -> None:
    source_path, target_path = store_path(source_url), store_path(target_url)
    if source_path is not None and target_path is not None:
        same = source_path.resolve() == target_path.resolve()
    else:
        same = source_url == target_url and not source_url.startswith("memory:")
    if same:
        raise BadUsage("--from and --to name the same store")


@click.command("migrate")
@click.option("--from", "source_url", required=True, metavar="URL", help="The store to copy.")
@click.option("--to", "target_url", required=True, metavar="URL", help="The store to fill.")
@click.option(
    "--merge",
    is_flag=True,
    help="Add the source's records to a target that already holds other records.",
)
@_BATCH
@_SAMPLE
@pass_state
def migrate_command(
    state: State, source_url: str, target_url: str, merge: bool, batch_size: int, sample: int
) -> None:
    """Copy every record from one store to another, then verify the copy.

    Collections are copied in dependency order with ids, timestamps and
    ciphertexts unchanged; the source is only read, and must exist. The
    target is created when there is no store at its URL, and must be empty
    unless --merge is given. An interrupted migration can simply be run again:
    records already copied are skipped. Exit 1 when anything is missing,
    different, orphaned or duplicated in the target.
    """
    _refuse_same_store(source_url, target_url)
    source = state.open(source_url, opener=open_source)
    target = state.open(target_url, create=True)
    with progress_bar(state) as progress, _stopped_part_way("migration"):
        result = migrate(
            source, target, merge=merge, batch_size=batch_size, sample=sample, progress=progress
        )
    emit(state, result.to_dict(), lambda console: render_migration(console, result))
    if not result.ok:
        fail(_failure("migration", result))


@click.command("verify")
@click.option("--from", "source_url", required=True, metavar="URL", help="The original store.")
@click.option("--to", "target_url", required=True, metavar="URL", help="The copy to check.")
@click.option("--merge", is_flag=True, help="The target may hold records beyond the source.")
@_SAMPLE
@pass_state
def verify_command(
    state: State, source_url: str, target_url: str, merge: bool, sample: int
) -> None:
    """Check that one store holds everything another holds (without copying).

    The same verification migrate runs at its end: counts, content of every
    record, orphans, duplicate keys, index lookups, the backend's own check.
    Both stores must exist; neither is modified. Exit 1 when the check fails.
    """
    source = state.open(source_url, opener=open_source)
    target = state.open(target_url, opener=open_source)
    with progress_bar(state) as progress:
        report = verify(source, target, allow_extra=merge, sample=sample, progress=progress)
    emit(state, report.to_dict(), lambda console: render_verification(console, report))
    if not report.ok:
        fail("verification failed; see the report above")


@click.command("export")
@click.argument(
    "file", required=False, default="-", type=PathParam(dir_okay=False, allow_dash=True)
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace FILE if it exists (a regular file only: a symbolic link, a device or a "
    "folder is always refused).",
)
@pass_state
def export_command(state: State, file: str, force: bool) -> None:
    """Write every record of the store to FILE as JSON Lines (default: - for stdout).

    The first line is a header with the format version, then one record per
    line in dependency order, then an end line with the counts. The file is
    created readable by its owner only: it holds hashes and ciphertexts.

    An existing FILE is refused unless --force is given. The export is
    written to a temporary file beside FILE and renamed into place when
    complete, so a failed export leaves what was at FILE as it was.
    """
    if file == "-":
        store = state.open()
        write_jsonl(store.export(), sys.stdout, backend=store.backend)
        sys.stdout.flush()
        return
    with _refusing_to_replace("--force"):
        check_output(file, overwrite=force)  # before any work
        store = state.open()
        total = sum(store.counts().values())
        with progress_bar(state) as progress:
            done = 0

            def tick(collection: str, n: int) -> None:
                nonlocal done
                done += 1
                if progress is not None and (done % 250 == 0 or done == total):
                    progress("export", done, max(total, done))

            counts = export_file(
                store.export(), Path(file), backend=store.backend, on_record=tick, overwrite=force
            )
    emit(
        state,
        {"path": file, "counts": counts},
        lambda console: console.print(
            counts_table(
                f"Exported to {file}",
                ["collection", "records"],
                counts.items(),
            )
        ),
    )


@contextmanager
def _refusing_to_replace(flag: str) -> Iterator[None]:
    """An output file that exists is a usage error naming the path and ``flag``."""
    try:
        yield
    except OutputExistsError as exc:
        raise BadUsage(f"{describe(exc)} (pass {flag} to replace it)") from None


@click.command("import")
@click.argument("file", type=PathParam(dir_okay=False, allow_dash=True))
@click.option("--merge", is_flag=True, help="Add to a store that already holds other records.")
@_BATCH
@_SAMPLE
@pass_state
def import_command(state: State, file: str, merge: bool, batch_size: int, sample: int) -> None:
    """Load a JSON Lines export (FILE, or - for stdin) into the store, then verify.

    The whole file is validated before anything is written; a truncated file
    is refused. Like migrate, the store is created when there is none at the
    URL and must be empty unless --merge, and an interrupted import can be
    run again.
    """
    with tempfile.TemporaryDirectory(prefix="auth-store-import-") as work:
        path = Path(file)
        if file == "-":
            path = Path(work) / "stdin.jsonl"
            with open(path, "w", encoding="utf-8") as spool:
                shutil.copyfileobj(sys.stdin, spool)
        elif not path.is_file():
            raise BadUsage(f"no such file: {file}")
        source = JsonlSource(path)
        target = state.open(create=True)
        with progress_bar(state) as progress, _stopped_part_way("import"):
            result = migrate(
                source,
                target,
                merge=merge,
                batch_size=batch_size,
                sample=sample,
                progress=progress,
            )
    emit(state, result.to_dict(), lambda console: render_migration(console, result))
    if not result.ok:
        fail(_failure("import", result))


@click.command("backup")
@click.argument("dest_dir", type=PathParam(file_okay=False, path_type=Path))
@click.option(
    "--keep",
    type=click.IntRange(min=0),
    default=24,
    show_default=True,
    help="Backups of this store to keep in DEST_DIR; older ones are deleted (0 keeps all).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["native", "jsonl"]),
    default="native",
    show_default=True,
    help="native: SQLite backup API, file store snapshot, pg_dump; jsonl: an export.",
)
@pass_state
def backup_command(state: State, dest_dir: Path, keep: int, fmt: str) -> None:
    """Write a consistent backup of the live store into DEST_DIR.

    A backend with native backups writes its own: SQLite its online backup
    API, the file store its snapshot, Postgres pg_dump when it is on PATH (an
    export otherwise); other backends write an export. Writers may keep
    running. Each backup is one file, readable by its owner only, named:

    \b
        auth-store-<backend>-<name>-<time>.<ext>
    """
    store = state.open()
    with progress_bar(state) as progress:
        result = backups.backup(store, dest_dir, keep=keep, format=fmt, progress=progress)

    def render(console: Console) -> None:
        console.print(f"backup written: {result.path} ({result.size} bytes, {result.method})")
        if result.note:
            console.print(f"note: {result.note}", markup=False)
        for path in result.removed:
            console.print(f"removed old backup: {path}")

    emit(state, result.to_dict(), render)


@click.command("restore")
@click.argument("file", type=PathParam(exists=True, dir_okay=False, path_type=Path))
@_BATCH
@_SAMPLE
@pass_state
def restore_command(state: State, file: Path, batch_size: int, sample: int) -> None:
    """Restore a backup FILE (any backup or export) into the store, then verify.

    The store must be empty (it is created when there is none at the URL).
    A SQLite, file-store or JSON Lines backup can be restored into any
    backend; a .pgdump into Postgres only (pg_restore).
    """
    target = state.open(create=True)
    with progress_bar(state) as progress, _stopped_part_way("restore"):
        result = backups.restore(
            file,
            target,
            batch_size=batch_size,
            sample=sample,
            progress=progress,
        )

    def render(console: Console) -> None:
        console.print(f"restored {file} ({result.method})")
        if result.migration is not None:
            render_migration(console, result.migration)

    emit(state, result.to_dict(), render)
    if not result.ok:
        fail("the restore did not verify; see the report above")


COMMANDS = [
    migrate_command,
    verify_command,
    export_command,
    import_command,
    backup_command,
    restore_command,
]
