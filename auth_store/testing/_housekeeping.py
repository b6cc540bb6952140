"""The credential store, session listing, expiry purging, export/import, and the
store's own life cycle (counts, health, close, context manager)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auth_store.adapter import Adapter
from auth_store.capabilities import OpensExisting
from auth_store.connect import backend_class
from auth_store.errors import ConflictError, NoStoreError
from auth_store.models import COLLECTIONS, Model, Session
from auth_store.records import collection_of, to_dict

from ._base import Base, RawStorage, raw_values
from ._races import process_case

_ORDER = list(COLLECTIONS)


def _snapshot(records: list[Model]) -> list[tuple[str, str]]:
    """Records as sortable, comparable (collection, canonical JSON-ish text) pairs."""
    return sorted((collection_of(r), repr(sorted(to_dict(r).items()))) for r in records)


class HousekeepingCases(Base):
    """Credentials (compare-and-set), sessions per user, purge, export/import, life cycle."""

    # -- credentials ----------------------------------------------------------

    def test_create_credential_fills_id_version_and_timestamps(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        before = self.now()
        created = adapter.create_credential(self.new_credential(user.id))
        after = self.now()
        assert created.id
        assert created.version == 1
        assert created.created_at is not None
        assert before <= created.created_at <= after
        assert created.updated_at == created.created_at
        assert adapter.get_credential(created.id) == created

    def test_credential_data_round_trips(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        data: dict[str, Any] = {
            "codes": ["a1", "b2"],
            "params": {"m": 19456, "t": 2, "ratio": 0.25, "on": True, "none": None},
            "label": "cl\u00e9 \U0001f511",
        }
        created = adapter.create_credential(self.new_credential(user.id, type="backup", data=data))
        assert created.data == data
        assert adapter.get_credential(str(created.id)) == created
        updated = adapter.update_credential(
            str(created.id), {**data, "codes": []}, expected_version=1
        )
        assert updated is not None
        assert updated.data == {**data, "codes": []}
        assert adapter.get_credential(str(created.id)) == updated

    def test_credential_data_is_written(self, adapter: Adapter, raw_storage: RawStorage) -> None:
        user = self.make_user(adapter)
        created = adapter.create_credential(
            self.new_credential(user.id, data={"hash": "marker-hash-value"})
        )
        rows = [r for r in raw_storage.records("credentials") if created.id in raw_values(r)]
        assert len(rows) == 1
        assert b"marker-hash-value" in raw_storage.dump()

    def test_list_credentials_oldest_first_and_by_type(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        other = self.make_user(adapter)
        uid = user.id
        base = datetime(2024, 1, 1, tzinfo=UTC)

        def at(minutes: int, kind: str) -> Any:
            stamp = base + timedelta(minutes=minutes, microseconds=minutes)
            return adapter.create_credential(
                self.new_credential(uid, type=kind, created_at=stamp, updated_at=stamp)
            )

        totp = at(30, "totp")
        oldest = at(10, "password")
        newest = at(50, "password")
        adapter.create_credential(self.new_credential(other.id))
        assert adapter.list_credentials(user.id) == [oldest, totp, newest]
        assert adapter.list_credentials(user.id, type="password") == [oldest, newest]
        assert adapter.list_credentials(user.id, type="totp") == [totp]
        assert adapter.list_credentials(user.id, type="api_key") == []

    def test_update_credential_compare_and_set_bumps_the_version(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        created = adapter.create_credential(self.new_credential(user.id))
        assert created.created_at is not None
        updated = adapter.update_credential(created.id, {"hash": "new"}, expected_version=1)
        assert updated is not None
        assert updated.version == 2
        assert updated.data == {"hash": "new"}
        assert updated.created_at == created.created_at
        assert updated.updated_at is not None
        assert updated.updated_at >= created.created_at
        assert updated.updated_at.utcoffset() == timedelta(0)
        assert adapter.get_credential(created.id) == updated
        again = adapter.update_credential(created.id, {"hash": "newer"}, expected_version=2)
        assert again is not None
        assert again.version == 3

    def test_update_credential_with_a_stale_version_changes_nothing(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        created = adapter.create_credential(self.new_credential(user.id))
        current = adapter.update_credential(created.id, {"hash": "v2"}, expected_version=1)
        assert adapter.update_credential(created.id, {"hash": "stale"}, expected_version=1) is None
        assert adapter.update_credential(created.id, {"hash": "ahead"}, expected_version=9) is None
        assert adapter.get_credential(created.id) == current

    def test_update_credential_on_a_missing_credential_is_none(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        created = adapter.create_credential(self.new_credential(user.id))
        adapter.delete_credential(created.id)
        assert adapter.update_credential(created.id, {"hash": "x"}, expected_version=1) is None
        assert adapter.get_credential(created.id) is None

    def test_delete_credential_returns_it_once(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        created = adapter.create_credential(self.new_credential(user.id))
        assert adapter.delete_credential(created.id) == created
        assert adapter.delete_credential(created.id) is None
        assert adapter.list_credentials(user.id) == []

    # -- sessions per user ----------------------------------------------------

    def test_get_session_and_user_returns_expired_sessions(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        expired = adapter.create_session(self.new_session(user.id, expires=self.later(days=-1)))
        assert adapter.get_session_and_user(expired.session_token) == (expired, user)
        assert adapter.get_session_and_user(expired.session_token) == (expired, user)

    def test_list_sessions_oldest_expiry_first_expired_included(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        other = self.make_user(adapter)
        late = adapter.create_session(self.new_session(user.id, expires=self.later(days=9)))
        expired = adapter.create_session(self.new_session(user.id, expires=self.later(days=-1)))
        soon = adapter.create_session(self.new_session(user.id, expires=self.later(hours=1)))
        adapter.create_session(self.new_session(other.id))
        assert adapter.list_sessions(user.id) == [expired, soon, late]

    def test_list_accounts_lists_one_users_accounts_by_provider_key(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        other = self.make_user(adapter)
        assert adapter.list_accounts(user.id) == []
        gitlab = adapter.link_account(self.new_account(user.id, provider="gitlab"))
        github_b = adapter.link_account(
            self.new_account(user.id, provider="github", provider_account_id="b-2")
        )
        github_a = adapter.link_account(
            self.new_account(user.id, provider="github", provider_account_id="a-1")
        )
        theirs = adapter.link_account(self.new_account(other.id, provider="github"))
        assert adapter.list_accounts(user.id) == [github_a, github_b, gitlab]
        assert adapter.list_accounts(other.id) == [theirs]
        adapter.unlink_account("github", "a-1")
        assert adapter.list_accounts(user.id) == [github_b, gitlab]
        adapter.delete_user(user.id)
        assert adapter.list_accounts(user.id) == []
        assert adapter.list_accounts(other.id) == [theirs]

    def test_delete_sessions_deletes_only_that_users_sessions(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        other = self.make_user(adapter)
        mine = [adapter.create_session(self.new_session(user.id)) for _ in range(3)]
        theirs = adapter.create_session(self.new_session(other.id))
        assert adapter.delete_sessions(user.id) == 3
        assert adapter.delete_sessions(user.id) == 0
        assert adapter.list_sessions(user.id) == []
        for session in mine:
            assert adapter.get_session_and_user(session.session_token) is None
        assert adapter.list_sessions(other.id) == [theirs]
        assert adapter.get_user(user.id) == user

    # -- purging --------------------------------------------------------------

    def test_purge_expired_counts_and_deletes_only_what_expired(self, adapter: Adapter) -> None:
        made = self.populate(adapter)
        user_id = made["user"].id
        now = self.now()
        old = adapter.create_session(
            self.new_session(user_id, expires=now - timedelta(microseconds=1))
        )
        adapter.create_session(self.new_session(user_id, expires=now - timedelta(days=3)))
        at_now = adapter.create_session(self.new_session(user_id, expires=now))
        old_token = adapter.create_verification_token(
            self.new_token(expires=now - timedelta(seconds=1))
        )
        assert adapter.purge_expired(now) == {"sessions": 2, "verification_tokens": 1}
        assert adapter.get_session_and_user(old.session_token) is None
        assert adapter.use_verification_token(old_token.identifier, old_token.token) is None
        # Expiring exactly at ``now`` is not yet expired; the week-long ones stay too.
        assert adapter.list_sessions(user_id) == [at_now, made["session"]]
        counts = adapter.counts()
        assert counts["verification_tokens"] == 1
        assert (counts["users"], counts["accounts"], counts["authenticators"]) == (1, 1, 1)
        assert counts["credentials"] == 1
        assert adapter.purge_expired(now) == {"sessions": 0, "verification_tokens": 0}

    def test_purge_expired_defaults_to_the_current_time(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        adapter.create_session(self.new_session(user.id, expires=self.later(seconds=-1)))
        live = adapter.create_session(self.new_session(user.id, expires=self.later(hours=1)))
        adapter.create_verification_token(self.new_token(expires=self.later(seconds=-1)))
        assert adapter.purge_expired() == {"sessions": 1, "verification_tokens": 1}
        assert adapter.list_sessions(user.id) == [live]

    def test_purge_expired_with_a_later_now_purges_everything(self, adapter: Adapter) -> None:
        self.populate(adapter)
        far = self.later(days=3650)
        assert adapter.purge_expired(far) == {"sessions": 1, "verification_tokens": 1}
        assert adapter.counts()["sessions"] == 0

    # -- export and import ----------------------------------------------------

    def _rich_store(self, adapter: Adapter) -> None:
        first = self.populate(adapter)
        second = self.populate(adapter)
        credential = first["credential"]
        adapter.update_credential(credential.id, {"hash": "rotated"}, expected_version=1)
        adapter.create_session(self.new_session(second["user"].id, expires=self.later(days=-2)))
        self.make_user(adapter, email_verified=self.now(), extra={"nested": {"a": [1, 2]}})

    def test_export_yields_every_record_users_first(self, adapter: Adapter) -> None:
        self._rich_store(adapter)
        exported = list(adapter.export())
        collections = [collection_of(r) for r in exported]
        assert collections == sorted(collections, key=_ORDER.index)
        counts = adapter.counts()
        assert {name: collections.count(name) for name in _ORDER} == counts

    def test_export_of_an_empty_store_is_empty(self, adapter: Adapter) -> None:
        exported = adapter.export()
        assert isinstance(exported, Iterator)
        assert list(exported) == []

    def test_importing_records_that_exist_conflicts(self, adapter: Adapter) -> None:
        made = self.populate(adapter)
        with pytest.raises(ConflictError):
            adapter.import_records([made["user"]])
        assert adapter.counts() == dict.fromkeys(_ORDER, 1)

    def test_export_import_round_trip_keeps_ids_and_timestamps(
        self, adapter: Adapter, tmp_path: Path
    ) -> None:
        self._rich_store(adapter)
        exported = list(adapter.export())
        with self.second_store(tmp_path) as copy:
            imported = copy.import_records(iter(exported))
            assert imported == adapter.counts()
            assert copy.counts() == adapter.counts()
            assert _snapshot(list(copy.export())) == _snapshot(exported)
            # Lookups by every index work on the copy.
            for record in exported:
                if isinstance(record, Session):
                    assert copy.get_session_and_user(record.session_token) == (
                        adapter.get_session_and_user(record.session_token)
                    )
            for user in adapter.export():
                if collection_of(user) == "users":
                    assert copy.get_user_by_email(getattr(user, "email", "")) == user

    def test_import_records_accepts_a_generator(self, adapter: Adapter, tmp_path: Path) -> None:
        self.populate(adapter)

        def records() -> Iterator[Model]:
            yield from adapter.export()

        with self.second_store(tmp_path) as copy:
            assert copy.import_records(records()) == adapter.counts()

    def test_import_records_returns_zero_counts_for_nothing(self, adapter: Adapter) -> None:
        assert adapter.import_records([]) == dict.fromkeys(_ORDER, 0)

    # -- life cycle -----------------------------------------------------------

    def test_counts_of_an_empty_store_are_zero(self, adapter: Adapter) -> None:
        assert adapter.counts() == dict.fromkeys(_ORDER, 0)

    def test_counts_count_every_collection(self, adapter: Adapter) -> None:
        self.populate(adapter)
        self.populate(adapter)
        assert adapter.counts() == dict.fromkeys(_ORDER, 2)

    def test_health_reports_backend_and_ok(self, adapter: Adapter) -> None:
        report = adapter.health()
        assert report["backend"] == adapter.backend
        assert isinstance(report["backend"], str)
        assert report["backend"] != "abstract"
        assert report["ok"] is True

    def test_close_is_idempotent(self, url: str) -> None:
        store = self.open(url)
        store.create_user(self.new_user())
        store.close()
        store.close()

    def test_context_manager_returns_the_store_and_closes_it(self, url: str) -> None:
        with self.open(url) as store:
            assert isinstance(store, Adapter)
            user = store.create_user(self.new_user())
            assert store.get_user(user.id) == user
        store.close()  # closing again after __exit__ is harmless

    # -- opening only an existing store (connect(url, create=False)) -------------

    def test_opening_only_an_existing_store_refuses_a_url_with_none(self, url: str) -> None:
        if not issubclass(backend_class(url), OpensExisting):
            # Without the capability, create=False opens the store as from_url does.
            with self.open_existing(url) as store:
                assert isinstance(store, Adapter)
            return
        with pytest.raises(NoStoreError, match="no store at"):
            self.open_existing(url)
        with pytest.raises(NoStoreError):
            self.open_existing(url)  # the first refusal created nothing
        with self.open(url) as store:  # nor anything half-made that gets in the way
            assert sum(store.counts().values()) == 0

    @process_case  # needs a store that outlives its opener: left out for memory
    def test_opening_only_an_existing_store_opens_it(self, url: str) -> None:
        with self.open(url) as store:
            user = store.create_user(self.new_user())
        with self.open_existing(url) as store:
            assert store.get_user(str(user.id)) == user
