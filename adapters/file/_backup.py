"""``backup(dest)``: a consistent tar.gz snapshot of a store while writers keep running.

Under the store's lock (so no write is halfway) the snapshot hard-links
every record file into a staging directory inside the root and copies the
index files. Writers never change a record file in place - they replace it
with a new one - so the linked files stay exactly as they were at that
moment. The lock is then released and the archive is written from the
staging directory at leisure. Writers wait for the links only, not for the
compression.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import tarfile
from pathlib import Path

from auth_store.errors import ConfigurationError, StorageError

from . import _atomic
from ._index import LOG_NAME
from ._layout import COLLECTION_SPECS, INDEX_DIR, META_NAME, RECORD_SUFFIX
from ._store import BACKUP_PREFIX, FileStore

__all__ = ["backup", "restore"]


def backup(store: FileStore, dest: Path) -> Path:
    """Write the snapshot to ``dest`` (replaced atomically); return its absolute path."""
    dest = dest.absolute()
    root = Path(store.root)
    if dest == root or root in dest.parents:
        raise ConfigurationError("a backup must be written outside the store's root")
    if dest.is_dir():
        raise ConfigurationError(f"backup destination {dest} is a directory")
    stage = BACKUP_PREFIX + secrets.token_hex(8)
    stage_path = root / stage
    try:
        os.mkdir(stage, 0o700, dir_fd=store.root_fd)
        stage_fd = os.open(
            stage, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=store.root_fd
        )
    except OSError as exc:
        raise StorageError(f"cannot create a staging directory in {root}: {exc.strerror}") from exc
    try:
        # Tells a store opening meanwhile that this staging directory is in use.
        fcntl.flock(stage_fd, fcntl.LOCK_EX)
        with store.write():
            members = _stage(store, stage_fd)
        _write_archive(stage_path, members, dest)
    except OSError as exc:
        raise StorageError(f"backup of {root} failed: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(stage_path, ignore_errors=True)
        os.close(stage_fd)
    return dest


def _stage(store: FileStore, stage_fd: int) -> list[str]:
    os.link(META_NAME, META_NAME, src_dir_fd=store.root_fd, dst_dir_fd=stage_fd)
    members = [META_NAME]
    for name, collection in store.collections.items():
        os.mkdir(name, 0o700, dir_fd=stage_fd)
        members.append(name)
        col_fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=stage_fd)
        try:
            for stem in collection.stems():
                file = stem + RECORD_SUFFIX
                os.link(
                    file, file, src_dir_fd=collection.fd, dst_dir_fd=col_fd, follow_symlinks=False
                )
                members.append(f"{name}/{file}")
            os.mkdir(INDEX_DIR, 0o700, dir_fd=col_fd)
            members.append(f"{name}/{INDEX_DIR}")
            idx_fd = os.open(INDEX_DIR, os.O_RDONLY | os.O_DIRECTORY, dir_fd=col_fd)
            try:
                # The log grows in place, so it is copied, not linked; a torn
                # tail (a writer that died) is left out. Its table is derived:
                # the restored store maps a new one when it opens.
                index = collection.index
                data = _atomic.read(collection.index_fd, LOG_NAME, where=index.where) or b""
                data = data[: data.rfind(b"\n") + 1]
                _atomic.write_atomic(idx_fd, LOG_NAME, data, durable=False, where=index.where)
                members.append(f"{name}/{INDEX_DIR}/{LOG_NAME}")
            finally:
                os.close(idx_fd)
        finally:
            os.close(col_fd)
    return members


def _write_archive(stage: Path, members: list[str], dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}{_atomic.TEMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with (
            os.fdopen(fd, "wb", closefd=False) as raw,
            tarfile.open(fileobj=raw, mode="w:gz") as tar,
        ):
            for member in members:
                tar.add(stage / member, arcname=member, recursive=False)
        _atomic.fsync(fd, str(tmp))
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, dest)
    dir_fd = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _atomic.fsync(dir_fd, str(dest.parent))
    finally:
        os.close(dir_fd)


def restore(archive: Path, root: Path) -> None:
    """Unpack a ``backup`` archive into ``root``, which must be missing or empty.

    Only regular files and directories of a file store's layout are accepted;
    links, devices, absolute paths and ``..`` are refused.
    """
    try:
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise ConfigurationError(f"restore needs a missing or empty directory, not {root}")
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member)
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            tar.extractall(root, members=members, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise StorageError(f"cannot restore {archive}: {exc}") from exc


def _check_member(member: tarfile.TarInfo) -> None:
    parts = member.name.split("/")
    top = parts[0]
    ok_kind = member.isfile() or member.isdir()
    ok_place = (
        not member.name.startswith("/")
        and ".." not in parts
        and (top == META_NAME or top in COLLECTION_SPECS)
        and len(parts) <= 3
    )
    if not (ok_kind and ok_place):
        raise ConfigurationError(f"{member.name!r} does not belong in a file store backup")
