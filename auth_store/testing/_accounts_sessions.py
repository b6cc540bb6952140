"""``update_account`` and the optional ``Session`` fields.

(DESIGN.md, "Wave 2 interfaces": accounts and sessions.)
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from auth_store.adapter import Adapter
from auth_store.errors import NotFoundError, ValidationError
from auth_store.models import Account, Session
from auth_store.records import from_dict, to_dict

from ._base import Base, RawStorage, raw_values

_IST = timezone(timedelta(hours=5, minutes=30))
_NAIVE = datetime(2030, 1, 2, 3, 4, 5, 678901)
_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _refused(call: Any) -> str | None:
    """``None`` if ``call()`` raised ``ValidationError``, else what happened instead."""
    try:
        result = call()
    except ValidationError:
        return None
    except Exception as exc:
        return f"raised {type(exc).__module__}.{type(exc).__name__}: {exc}"
    return f"returned {result!r:.80}"


class AccountSessionCases(Base):
    """``update_account``: one atomic write of the token fields; ``Session``'s details."""

    # -- update_account -------------------------------------------------------

    def test_update_account_changes_tokens_and_extra_and_returns_it(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        linked = adapter.link_account(self.new_account(uid, extra={"ext_expires_in": 1}))
        changes: dict[str, Any] = {
            "access_token": "gho_new-access",
            "refresh_token": "ghr_new-refresh",
            "expires_at": 1_950_000_000,
            "scope": "read:user",
            "extra": {"refresh_token_expires_in": 15_897_600},
        }
        updated = adapter.update_account(linked.provider, linked.provider_account_id, **changes)
        assert updated == replace(linked, **changes)
        assert adapter.get_account(linked.provider, linked.provider_account_id) == updated
        assert adapter.get_user_by_account(linked.provider, linked.provider_account_id) == user
        assert adapter.unlink_account(linked.provider, linked.provider_account_id) == updated

    def test_update_account_changes_only_the_fields_given(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        linked = adapter.link_account(self.new_account(uid, extra={"keep": True}))
        key = (linked.provider, linked.provider_account_id)
        one = adapter.update_account(*key, access_token="only-this")
        assert one == replace(linked, access_token="only-this")
        two = adapter.update_account(*key, extra={"replaced": 1})
        assert two == replace(linked, access_token="only-this", extra={"replaced": 1})
        assert adapter.update_account(*key) == two  # nothing to change: the account as it is
        assert adapter.get_account(*key) == two

    def test_update_account_can_clear_optional_fields(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        linked = adapter.link_account(self.new_account(uid, extra={"x": 1}))
        cleared: dict[str, Any] = {
            name: None for name in ("refresh_token", "expires_at", "id_token", "scope")
        }
        updated = adapter.update_account(
            linked.provider, linked.provider_account_id, extra={}, **cleared
        )
        assert updated == replace(linked, extra={}, **cleared)
        assert adapter.get_account(linked.provider, linked.provider_account_id) == updated

    def test_update_account_writes_the_new_values(
        self, adapter: Adapter, raw_storage: RawStorage
    ) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        linked = adapter.link_account(self.new_account(uid, access_token="old-access-token"))
        adapter.update_account(
            linked.provider, linked.provider_account_id, access_token="new-access-token"
        )
        rows = [
            r
            for r in raw_storage.records("accounts")
            if linked.provider_account_id in raw_values(r)
        ]
        assert len(rows) == 1
        assert "new-access-token" in raw_values(rows[0])
        assert "old-access-token" not in raw_values(rows[0])

    def test_update_account_keeps_other_accounts(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        target = adapter.link_account(self.new_account(uid, provider_account_id="1"))
        same_id_elsewhere = adapter.link_account(
            self.new_account(uid, provider="google", provider_account_id="1")
        )
        same_provider = adapter.link_account(self.new_account(uid, provider_account_id="2"))
        adapter.update_account("github", "1", access_token="changed", extra={"n": 1})
        assert adapter.get_account("google", "1") == same_id_elsewhere
        assert adapter.get_account("github", "2") == same_provider
        assert adapter.get_account("github", "1") == replace(
            target, access_token="changed", extra={"n": 1}
        )

    def test_update_account_on_a_missing_account_is_none(self, adapter: Adapter) -> None:
        made = self.populate(adapter)
        before = list(adapter.export())
        account = made["account"]
        assert adapter.update_account("github", "no-such-account", access_token="x") is None
        assert adapter.update_account("no-such-provider", account.provider_account_id) is None
        assert list(adapter.export()) == before

    def test_update_account_cannot_change_its_id_owner_or_type(self, adapter: Adapter) -> None:
        # (Its key can't be passed as a change: provider= and provider_account_id=
        # name the account, so Python itself refuses them twice.)
        user = self.make_user(adapter)
        other = self.make_user(adapter)
        uid = str(user.id)
        linked = adapter.link_account(self.new_account(uid))
        key = (linked.provider, linked.provider_account_id)
        refused = {
            "id": {"id": "another-id"},
            "user_id": {"user_id": other.id},
            "type": {"type": "oidc"},
            "unknown": {"bogus": 1},
            "with a valid field": {"access_token": "ok", "user_id": other.id},
        }
        wrong = {
            name: outcome
            for name, changes in refused.items()
            if (outcome := _refused(lambda c=changes: adapter.update_account(*key, **c)))
        }
        assert not wrong, f"expected ValidationError: {wrong}"
        assert adapter.get_account(*key) == linked
        assert adapter.get_user_by_account(*key) == user

    def test_wrong_update_account_input_is_a_validation_error(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        linked = adapter.link_account(self.new_account(uid))
        key = (linked.provider, linked.provider_account_id)
        bad: dict[str, Any] = {
            "access_token int": lambda: adapter.update_account(*key, access_token=5),
            "refresh_token NUL": lambda: adapter.update_account(*key, refresh_token="a\x00b"),
            "expires_at str": lambda: adapter.update_account(*key, expires_at="soon"),
            "expires_at bool": lambda: adapter.update_account(*key, expires_at=True),
            "expires_at float": lambda: adapter.update_account(*key, expires_at=1.5),
            "expires_at 2**70": lambda: adapter.update_account(*key, expires_at=2**70),
            "scope over 64 KiB": lambda: adapter.update_account(*key, scope="s" * 70_000),
            "id_token lone surrogate": lambda: adapter.update_account(*key, id_token="\ud800"),
            "extra str": lambda: adapter.update_account(*key, extra="{}"),
            "extra None": lambda: adapter.update_account(*key, extra=None),
            "extra NUL": lambda: adapter.update_account(*key, extra={"n": "a\x00"}),
            "provider None": lambda: adapter.update_account(None, key[1], scope="x"),  # type: ignore[arg-type]
            "provider empty": lambda: adapter.update_account("", key[1], scope="x"),
            "provider_account_id int": lambda: adapter.update_account(key[0], 42, scope="x"),  # type: ignore[arg-type]
            "provider NUL": lambda: adapter.update_account("git\x00hub", key[1], scope="x"),
        }
        wrong = {name: outcome for name, call in bad.items() if (outcome := _refused(call))}
        assert not wrong, f"expected ValidationError: {wrong}"
        assert adapter.get_account(*key) == linked

    def test_an_updated_account_is_deleted_with_its_user(
        self, adapter: Adapter, raw_storage: RawStorage
    ) -> None:
        made = self.populate(adapter)
        account = made["account"]
        adapter.update_account(
            account.provider, account.provider_account_id, extra={"tenant": "acme"}
        )
        adapter.delete_user(made["user"].id)
        assert adapter.get_account(account.provider, account.provider_account_id) is None
        assert raw_storage.records("accounts") == []

    # -- Session details: created_at, updated_at, ip_address, user_agent -----

    def _detailed(self, user_id: str, **fields: Any) -> Session:
        values: dict[str, Any] = {
            "created_at": datetime(2026, 1, 2, 3, 4, 5, 600007, tzinfo=UTC),
            "updated_at": datetime(2026, 1, 3, 4, 5, 6, 700008, tzinfo=UTC),
            "ip_address": "2001:db8::7",
            "user_agent": _FIREFOX,
        }
        values.update(fields)
        return self.new_session(user_id, **values)

    def test_session_details_default_to_none(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        created = adapter.create_session(self.new_session(uid))
        details = (created.created_at, created.updated_at, created.ip_address, created.user_agent)
        assert details == (None, None, None, None)
        assert adapter.get_session_and_user(created.session_token) == (created, user)
        assert adapter.list_sessions(uid) == [created]

    def test_session_details_round_trip(self, adapter: Adapter) -> None:
        user = self.make_user(adapter, extra={"role": "admin"})
        uid = str(user.id)
        given = self._detailed(uid)
        created = adapter.create_session(given)
        assert created == replace(given, id=created.id)
        assert adapter.get_session_and_user(created.session_token) == (created, user)
        assert adapter.list_sessions(uid) == [created]
        assert adapter.delete_session(created.session_token) == created

    def test_session_details_are_aware_utc_with_microseconds(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        started = datetime(2031, 5, 6, 7, 8, 9, 654321, tzinfo=_IST)
        seen = datetime(2031, 5, 6, 9, 0, 0, 1, tzinfo=_IST)
        created = adapter.create_session(self._detailed(uid, created_at=started, updated_at=seen))
        found = adapter.get_session_and_user(created.session_token)
        assert found is not None
        for value, want in [
            (created.created_at, started),
            (created.updated_at, seen),
            (found[0].created_at, started),
            (found[0].updated_at, seen),
        ]:
            assert value == want
            assert value is not None
            assert value.utcoffset() == timedelta(0)
            assert value.microsecond == want.microsecond

    def test_update_session_sets_and_clears_details(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        plain = adapter.create_session(self.new_session(uid))
        seen = self.later(minutes=5)
        step1 = adapter.update_session(
            plain.session_token, updated_at=seen, ip_address="203.0.113.9"
        )
        assert step1 == replace(plain, updated_at=seen, ip_address="203.0.113.9")
        step2 = adapter.update_session(plain.session_token, user_agent=_FIREFOX, ip_address=None)
        assert step2 == replace(plain, updated_at=seen, user_agent=_FIREFOX)
        expires = self.later(days=30)
        step3 = adapter.update_session(plain.session_token, expires=expires)
        assert step3 == replace(step2, expires=expires)  # the details stay
        started = self.later(days=-1)
        step4 = adapter.update_session(plain.session_token, created_at=started, updated_at=None)
        assert step4 == replace(step3, created_at=started, updated_at=None)
        assert adapter.get_session_and_user(plain.session_token) == (step4, user)
        assert adapter.list_sessions(uid) == [step4]

    def test_update_session_keeps_other_sessions_details(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        one = adapter.create_session(self._detailed(uid))
        two = adapter.create_session(self._detailed(uid, ip_address="198.51.100.1"))
        adapter.update_session(one.session_token, ip_address="192.0.2.1", user_agent=None)
        assert adapter.get_session_and_user(two.session_token) == (two, user)

    def test_moving_a_detailed_session_keeps_its_details(self, adapter: Adapter) -> None:
        one = self.make_user(adapter)
        two = self.make_user(adapter)
        one_id = str(one.id)
        two_id = str(two.id)
        session = adapter.create_session(self._detailed(one_id))
        moved = adapter.update_session(session.session_token, user_id=two_id)
        assert moved == replace(session, user_id=two_id)
        assert adapter.get_session_and_user(session.session_token) == (moved, two)
        with pytest.raises(NotFoundError):
            adapter.update_session(session.session_token, user_id="no-such-user", ip_address="x")
        assert adapter.get_session_and_user(session.session_token) == (moved, two)

    def test_wrong_session_details_are_validation_errors(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        session = adapter.create_session(self._detailed(uid))
        token = session.session_token
        bad: dict[str, Any] = {
            "created_at naive": lambda: adapter.create_session(
                self._detailed(uid, created_at=_NAIVE)
            ),
            "updated_at str": lambda: adapter.create_session(
                self._detailed(uid, updated_at="2030-01-01T00:00:00+00:00")
            ),
            "ip_address int": lambda: adapter.create_session(
                self._detailed(uid, ip_address=2130706433)
            ),
            "ip_address 65 characters": lambda: adapter.create_session(
                self._detailed(uid, ip_address="1" * 65)
            ),
            "user_agent bytes": lambda: adapter.create_session(
                self._detailed(uid, user_agent=b"curl/8")
            ),
            "user_agent over 1024": lambda: adapter.create_session(
                self._detailed(uid, user_agent="u" * 1025)
            ),
            "user_agent NUL": lambda: adapter.create_session(
                self._detailed(uid, user_agent="curl\x00")
            ),
            "update created_at naive": lambda: adapter.update_session(token, created_at=_NAIVE),
            "update updated_at int": lambda: adapter.update_session(token, updated_at=0),
            "update ip_address list": lambda: adapter.update_session(token, ip_address=["::1"]),
            "update user_agent surrogate": lambda: adapter.update_session(
                token, user_agent="\udfff"
            ),
            "update id": lambda: adapter.update_session(token, id="other"),
        }
        wrong = {name: outcome for name, call in bad.items() if (outcome := _refused(call))}
        assert not wrong, f"expected ValidationError: {wrong}"
        assert adapter.list_sessions(uid) == [session]

    def test_session_details_limits_are_inclusive(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        longest = self._detailed(uid, ip_address="1" * 64, user_agent="u" * 1024)
        created = adapter.create_session(longest)
        assert adapter.get_session_and_user(created.session_token) == (created, user)

    def test_session_details_are_written(self, adapter: Adapter, raw_storage: RawStorage) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        created = adapter.create_session(self._detailed(uid, ip_address="192.0.2.77"))
        rows = [r for r in raw_storage.records("sessions") if str(created.id) in raw_values(r)]
        assert len(rows) == 1
        assert "192.0.2.77" in raw_values(rows[0])
        assert _FIREFOX in raw_values(rows[0])

    def test_session_details_go_with_the_session(
        self, adapter: Adapter, raw_storage: RawStorage
    ) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        kept = adapter.create_session(self._detailed(uid, ip_address="192.0.2.1"))
        gone = adapter.create_session(self._detailed(uid, ip_address="192.0.2.2"))
        expired = adapter.create_session(
            self._detailed(uid, ip_address="192.0.2.3", expires=self.later(days=-1))
        )
        adapter.delete_session(gone.session_token)
        assert adapter.purge_expired() == {"sessions": 1, "verification_tokens": 0}
        assert adapter.list_sessions(uid) == [kept]
        dump = raw_storage.dump()
        assert b"192.0.2.1" in dump
        # Deleted and purged sessions leave no details behind (on SQL backends
        # the bytes of a deleted row may linger in free pages: look at rows).
        values = set().union(*(raw_values(r) for r in raw_storage.records("sessions")))
        assert "192.0.2.2" not in values
        assert "192.0.2.3" not in values
        assert adapter.get_session_and_user(expired.session_token) is None
        assert adapter.delete_sessions(uid) == 1
        assert raw_storage.records("sessions") == []

    def test_session_details_survive_export_and_import(
        self, adapter: Adapter, tmp_path: Path
    ) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        detailed = adapter.create_session(self._detailed(uid))
        plain = adapter.create_session(self.new_session(uid))
        exported = list(adapter.export())
        with self.second_store(tmp_path) as copy:
            copy.import_records(exported)
            assert copy.get_session_and_user(detailed.session_token) == (detailed, user)
            assert copy.get_session_and_user(plain.session_token) == (plain, user)

    def test_sessions_exported_before_the_details_existed_still_import(
        self, adapter: Adapter
    ) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        # A record as exports from before these fields were written it: no detail keys.
        old = {
            "id": "old-session",
            "session_token": self.unique("old"),
            "user_id": uid,
            "expires": self.later(days=3).isoformat(timespec="microseconds"),
        }
        record = from_dict("sessions", old)
        assert adapter.import_records([record]) == {
            **dict.fromkeys(adapter.counts(), 0),
            "sessions": 1,
        }
        found = adapter.get_session_and_user(old["session_token"])
        assert found is not None
        assert found[0] == Session(
            id="old-session",
            session_token=old["session_token"],
            user_id=uid,
            expires=datetime.fromisoformat(old["expires"]),
        )
        assert to_dict(found[0])["ip_address"] is None

    def test_accounts_exported_with_extra_import_unchanged(
        self, adapter: Adapter, tmp_path: Path
    ) -> None:
        user = self.make_user(adapter, extra={"tenant": "acme", "internal_note": "x"})
        uid = str(user.id)
        account = adapter.link_account(
            Account.from_token(
                user_id=uid,
                type="oidc",
                provider="azure-ad",
                provider_account_id="oid-7",
                token={"access_token": "at", "ext_expires_in": 3599, "claims": {"tid": "t"}},
            )
        )
        exported = list(adapter.export())
        with self.second_store(tmp_path) as copy:
            copy.import_records(exported)
            assert copy.get_account("azure-ad", "oid-7") == account
            assert copy.get_user(uid) == user
