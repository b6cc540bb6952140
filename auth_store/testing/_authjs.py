"""Every case of Auth.js's shared adapter tests (``runBasicTests``), one store per test."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from operator import attrgetter

import pytest

from auth_store.adapter import Adapter
from auth_store.errors import NotFoundError
from auth_store.models import User

from ._base import Base, RawStorage, raw_values


def _hash_token(token: str) -> str:
    # How Auth.js stores verification tokens: sha256(token + secret), hex.
    return hashlib.sha256(f"{token}anything".encode()).hexdigest()


class AuthJsCases(Base):
    """The Auth.js adapter cases, each on a fresh store instead of shared ordered state."""

    # -- users ----------------------------------------------------------------

    def test_adapter_is_an_adapter(self, adapter: Adapter) -> None:
        assert isinstance(adapter, Adapter)

    def test_create_user_returns_it_as_stored(self, adapter: Adapter) -> None:
        given = self.new_user(
            name="Fill Murray",
            image="https://www.fillmurray.com/460/300",
            email_verified=self.now(),
        )
        created = adapter.create_user(given)
        assert created.id
        assert created == replace(given, id=created.id)
        assert adapter.get_user(created.id) == created

    def test_create_user_writes_a_record(self, adapter: Adapter, raw_storage: RawStorage) -> None:
        created = self.make_user(adapter)
        rows = [r for r in raw_storage.records("users") if created.id in raw_values(r)]
        assert len(rows) == 1
        assert created.email in raw_values(rows[0])

    def test_get_user_miss_is_none(self, adapter: Adapter) -> None:
        self.make_user(adapter)
        assert adapter.get_user(str(uuid.uuid4())) is None

    def test_get_user_by_email(self, adapter: Adapter) -> None:
        created = self.make_user(adapter)
        assert adapter.get_user_by_email(created.email) == created

    def test_get_user_by_email_miss_is_none(self, adapter: Adapter) -> None:
        self.make_user(adapter)
        assert adapter.get_user_by_email("non-existent@example.com") is None

    def test_update_user_returns_and_stores_the_change(
        self, adapter: Adapter, raw_storage: RawStorage
    ) -> None:
        created = self.make_user(adapter, name="Old Name")
        returned = adapter.update_user(created.id, name="Updated Name")
        assert returned == replace(created, name="Updated Name")
        assert adapter.get_user(created.id) == returned
        rows = [r for r in raw_storage.records("users") if created.id in raw_values(r)]
        assert "Updated Name" in raw_values(rows[0])
        assert "Old Name" not in raw_values(rows[0])

    def test_update_user_missing_raises_not_found(self, adapter: Adapter) -> None:
        with pytest.raises(NotFoundError):
            adapter.update_user(str(uuid.uuid4()), name="Nobody")

    # -- sessions -------------------------------------------------------------

    def test_create_session_returns_it_as_stored(
        self, adapter: Adapter, raw_storage: RawStorage
    ) -> None:
        user = self.make_user(adapter)
        given = self.new_session(user.id)
        created = adapter.create_session(given)
        assert created.id
        assert created == replace(given, id=created.id)
        rows = [r for r in raw_storage.records("sessions") if given.session_token in raw_values(r)]
        assert len(rows) == 1
        assert user.id in raw_values(rows[0])

    def test_get_session_and_user(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        session = adapter.create_session(self.new_session(user.id))
        assert adapter.get_session_and_user(session.session_token) == (session, user)

    def test_get_session_and_user_unknown_token_is_none(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        adapter.create_session(self.new_session(user.id))
        assert adapter.get_session_and_user("invalid-token") is None

    def test_update_session_returns_and_stores_the_expiry(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        session = adapter.create_session(self.new_session(user.id))
        expires = self.later(days=30)
        assert expires != session.expires
        updated = adapter.update_session(session.session_token, expires=expires)
        assert updated == replace(session, expires=expires)
        found = adapter.get_session_and_user(session.session_token)
        assert found is not None
        assert found[0].expires == expires

    def test_delete_session(self, adapter: Adapter, raw_storage: RawStorage) -> None:
        user = self.make_user(adapter)
        session = adapter.create_session(self.new_session(user.id))
        assert adapter.delete_session(session.session_token) == session
        assert adapter.get_session_and_user(session.session_token) is None
        assert raw_storage.records("sessions") == []

    # -- accounts -------------------------------------------------------------

    def test_link_account_returns_it_as_stored(
        self, adapter: Adapter, raw_storage: RawStorage
    ) -> None:
        user = self.make_user(adapter)
        given = self.new_account(user.id)
        linked = adapter.link_account(given)
        assert linked.id
        assert linked == replace(given, id=linked.id)
        rows = [
            r for r in raw_storage.records("accounts") if given.provider_account_id in raw_values(r)
        ]
        assert len(rows) == 1
        assert user.id in raw_values(rows[0])

    def test_get_user_by_account(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        account = adapter.link_account(self.new_account(user.id))
        assert adapter.get_user_by_account(account.provider, account.provider_account_id) == user

    def test_get_user_by_account_miss_is_none(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        adapter.link_account(self.new_account(user.id))
        assert adapter.get_user_by_account("invalid-provider", "invalid-account-id") is None

    def test_get_account(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        account = adapter.link_account(self.new_account(user.id))
        assert adapter.get_account(account.provider, account.provider_account_id) == account

    def test_get_account_with_either_half_wrong_is_none(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        account = adapter.link_account(self.new_account(user.id))
        other = adapter.link_account(self.new_account(user.id, provider="google"))
        assert adapter.get_account("gitlab", account.provider_account_id) is None
        assert adapter.get_account(account.provider, "wrong-provider-account-id") is None
        # Each half exists, but not together.
        assert adapter.get_account(account.provider, other.provider_account_id) is None

    def test_unlink_account(self, adapter: Adapter, raw_storage: RawStorage) -> None:
        user = self.make_user(adapter)
        account = adapter.link_account(self.new_account(user.id))
        assert adapter.unlink_account(account.provider, account.provider_account_id) == account
        assert adapter.get_account(account.provider, account.provider_account_id) is None
        assert adapter.get_user_by_account(account.provider, account.provider_account_id) is None
        assert raw_storage.records("accounts") == []
        assert adapter.get_user(user.id) == user

    # -- verification tokens --------------------------------------------------

    def test_create_verification_token_returns_it_as_stored(
        self, adapter: Adapter, raw_storage: RawStorage
    ) -> None:
        given = self.new_token(identifier="info@example.com", token=_hash_token("t1"))
        assert adapter.create_verification_token(given) == given
        rows = [
            r for r in raw_storage.records("verification_tokens") if given.token in raw_values(r)
        ]
        assert len(rows) == 1
        assert given.identifier in raw_values(rows[0])

    def test_use_verification_token_returns_it_then_none(
        self, adapter: Adapter, raw_storage: RawStorage
    ) -> None:
        given = self.new_token(identifier="info@example.com", token=_hash_token("t2"))
        adapter.create_verification_token(given)
        assert adapter.use_verification_token(given.identifier, given.token) == given
        assert adapter.use_verification_token(given.identifier, given.token) is None
        assert raw_storage.records("verification_tokens") == []

    def test_use_verification_token_with_wrong_identifier_is_none(self, adapter: Adapter) -> None:
        given = self.new_token(identifier="info@example.com", token=_hash_token("t3"))
        adapter.create_verification_token(given)
        assert adapter.use_verification_token("other@example.com", given.token) is None
        # The miss consumed nothing: the right pair still works once.
        assert adapter.use_verification_token(given.identifier, given.token) == given

    def test_recreated_verification_token_can_be_used_again(self, adapter: Adapter) -> None:
        given = self.new_token()
        adapter.create_verification_token(given)
        assert adapter.use_verification_token(given.identifier, given.token) == given
        adapter.create_verification_token(given)
        assert adapter.use_verification_token("wrong@example.com", given.token) is None
        assert adapter.use_verification_token(given.identifier, given.token) == given

    def test_use_verification_token_returns_expired_tokens(self, adapter: Adapter) -> None:
        expired = self.new_token(expires=self.later(minutes=-5))
        adapter.create_verification_token(expired)
        assert adapter.use_verification_token(expired.identifier, expired.token) == expired

    # -- deleting users -------------------------------------------------------

    def test_delete_user_returns_the_user(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        assert adapter.delete_user(user.id) == user
        assert adapter.get_user(user.id) is None
        assert adapter.get_user_by_email(user.email) is None

    def test_delete_user_removes_everything_it_owns(self, adapter: Adapter) -> None:
        made = self.populate(adapter)
        user: User = made["user"]
        assert adapter.delete_user(user.id) == user
        account = made["account"]
        assert adapter.get_account(account.provider, account.provider_account_id) is None
        assert adapter.get_user_by_account(account.provider, account.provider_account_id) is None
        assert adapter.get_session_and_user(made["session"].session_token) is None
        assert adapter.list_sessions(user.id) == []
        assert adapter.get_authenticator(made["authenticator"].credential_id) is None
        assert adapter.list_authenticators_by_user_id(user.id) == []
        assert adapter.get_credential(made["credential"].id) is None
        assert adapter.list_credentials(user.id) == []

    def test_delete_user_leaves_no_raw_records_behind(
        self, adapter: Adapter, raw_storage: RawStorage
    ) -> None:
        made = self.populate(adapter)
        adapter.delete_user(made["user"].id)
        for collection in ("users", "accounts", "sessions", "authenticators", "credentials"):
            assert raw_storage.records(collection) == [], collection
        # Verification tokens belong to an identifier, not a user: they stay.
        assert len(raw_storage.records("verification_tokens")) == 1

    def test_delete_user_keeps_other_users_records(self, adapter: Adapter) -> None:
        doomed = self.populate(adapter)
        kept = self.populate(adapter)
        adapter.delete_user(doomed["user"].id)
        user = kept["user"]
        assert adapter.get_user(user.id) == user
        account = kept["account"]
        assert adapter.get_account(account.provider, account.provider_account_id) == account
        assert adapter.get_session_and_user(kept["session"].session_token) == (
            kept["session"],
            user,
        )
        assert adapter.list_authenticators_by_user_id(user.id) == [kept["authenticator"]]
        assert adapter.list_credentials(user.id) == [kept["credential"]]

    # -- authenticators -------------------------------------------------------

    def test_create_authenticator_returns_it_as_stored(
        self, adapter: Adapter, raw_storage: RawStorage
    ) -> None:
        user = self.make_user(adapter)
        given = self.new_authenticator(user.id, credential_backed_up=True, counter=7)
        assert adapter.create_authenticator(given) == given
        assert adapter.get_authenticator(given.credential_id) == given
        rows = [
            r for r in raw_storage.records("authenticators") if given.credential_id in raw_values(r)
        ]
        assert len(rows) == 1

    def test_get_authenticator_miss_is_none(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        adapter.create_authenticator(self.new_authenticator(user.id))
        assert adapter.get_authenticator("no-such-credential") is None

    def test_list_authenticators_by_user_id(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        other = self.make_user(adapter)
        mine = [
            adapter.create_authenticator(self.new_authenticator(user.id, transports=None)),
            adapter.create_authenticator(self.new_authenticator(user.id)),
        ]
        adapter.create_authenticator(self.new_authenticator(other.id))
        listed = adapter.list_authenticators_by_user_id(user.id)
        key = attrgetter("credential_id")
        assert sorted(listed, key=key) == sorted(mine, key=key)

    def test_list_authenticators_of_unknown_user_is_empty(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        adapter.create_authenticator(self.new_authenticator(user.id))
        assert adapter.list_authenticators_by_user_id(str(uuid.uuid4())) == []

    def test_update_authenticator_counter(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        created = adapter.create_authenticator(self.new_authenticator(user.id))
        updated = adapter.update_authenticator_counter(created.credential_id, 2**40)
        assert updated == replace(created, counter=2**40)
        assert adapter.get_authenticator(created.credential_id) == updated

    def test_update_authenticator_counter_missing_raises_not_found(self, adapter: Adapter) -> None:
        with pytest.raises(NotFoundError):
            adapter.update_authenticator_counter("no-such-credential", 1)
