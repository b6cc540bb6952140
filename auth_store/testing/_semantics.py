"""The semantics DESIGN.md pins for every backend: e-mails, datetimes, ids, extras,
uniqueness, input checking, misses and references to users."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest

from auth_store import clock
from auth_store.adapter import Adapter
from auth_store.errors import ConflictError, NotFoundError, ValidationError
from auth_store.models import Account, User
from auth_store.validation import json_limits, validate_id

from ._base import BAD_IDS, Base

_IST = timezone(timedelta(hours=5, minutes=30))
_NAIVE = datetime(2030, 1, 2, 3, 4, 5, 678901)

#: Operations that take an id from the caller: (name, call with a bad id).
_ID_OPS: dict[str, Callable[[Base, Adapter, str, str], object]] = {
    "create_user(id)": lambda t, a, uid, bad: a.create_user(t.new_user(id=bad)),
    "get_user": lambda t, a, uid, bad: a.get_user(bad),
    "update_user": lambda t, a, uid, bad: a.update_user(bad, name="x"),
    "delete_user": lambda t, a, uid, bad: a.delete_user(bad),
    "link_account(user_id)": lambda t, a, uid, bad: a.link_account(t.new_account(bad)),
    "link_account(id)": lambda t, a, uid, bad: a.link_account(t.new_account(uid, id=bad)),
    "create_session(user_id)": lambda t, a, uid, bad: a.create_session(t.new_session(bad)),
    "create_session(id)": lambda t, a, uid, bad: a.create_session(t.new_session(uid, id=bad)),
    "update_session(user_id)": lambda t, a, uid, bad: a.update_session("tok", user_id=bad),
    "list_sessions": lambda t, a, uid, bad: a.list_sessions(bad),
    "list_accounts": lambda t, a, uid, bad: a.list_accounts(bad),
    "delete_sessions": lambda t, a, uid, bad: a.delete_sessions(bad),
    "create_authenticator(user_id)": lambda t, a, uid, bad: a.create_authenticator(
        t.new_authenticator(bad)
    ),
    "list_authenticators_by_user_id": lambda t, a, uid, bad: a.list_authenticators_by_user_id(bad),
    "create_credential(id)": lambda t, a, uid, bad: a.create_credential(
        t.new_credential(uid, id=bad)
    ),
    "create_credential(user_id)": lambda t, a, uid, bad: a.create_credential(t.new_credential(bad)),
    "get_credential": lambda t, a, uid, bad: a.get_credential(bad),
    "list_credentials": lambda t, a, uid, bad: a.list_credentials(bad),
    "update_credential": lambda t, a, uid, bad: a.update_credential(bad, {}, expected_version=1),
    "delete_credential": lambda t, a, uid, bad: a.delete_credential(bad),
}

#: Lookups that miss on a store holding unrelated records, and what a miss returns.
_MISSES: dict[str, tuple[Callable[[Adapter], object], object]] = {
    "get_user": (lambda a: a.get_user("no-such-user"), None),
    "get_user_by_email": (lambda a: a.get_user_by_email("nobody@example.com"), None),
    "get_user_by_account": (lambda a: a.get_user_by_account("github", "nobody"), None),
    "get_account": (lambda a: a.get_account("github", "nobody"), None),
    "unlink_account": (lambda a: a.unlink_account("github", "nobody"), None),
    "update_account": (lambda a: a.update_account("github", "nobody", scope="x"), None),
    "list_accounts": (lambda a: a.list_accounts("no-such-user"), []),
    "delete_user": (lambda a: a.delete_user("no-such-user"), None),
    "get_session_and_user": (lambda a: a.get_session_and_user("no-such-token"), None),
    "update_session": (
        lambda a: a.update_session("no-such-token", expires=clock.now()),
        None,
    ),
    "delete_session": (lambda a: a.delete_session("no-such-token"), None),
    "list_sessions": (lambda a: a.list_sessions("no-such-user"), []),
    "delete_sessions": (lambda a: a.delete_sessions("no-such-user"), 0),
    "use_verification_token": (lambda a: a.use_verification_token("nobody", "nothing"), None),
    "get_authenticator": (lambda a: a.get_authenticator("no-such-credential"), None),
    "list_authenticators_by_user_id": (
        lambda a: a.list_authenticators_by_user_id("no-such-user"),
        [],
    ),
    "get_credential": (lambda a: a.get_credential("no-such-credential"), None),
    "list_credentials": (lambda a: a.list_credentials("no-such-user"), []),
    "update_credential": (
        lambda a: a.update_credential("no-such-credential", {}, expected_version=1),
        None,
    ),
    "delete_credential": (lambda a: a.delete_credential("no-such-credential"), None),
    "delete_authenticator": (lambda a: a.delete_authenticator("no-such-credential"), None),
}


def wrong(value: object) -> Any:
    """``value``, typed ``Any``: an input of the wrong type, passed on purpose to see it refused."""
    return value


def _expect_validation_errors(cases: dict[str, Callable[[], object]]) -> None:
    """Run every case; fail listing each one that did not raise ``ValidationError``."""
    wrong: list[str] = []
    for name, call in cases.items():
        try:
            result = call()
        except ValidationError:
            continue
        except Exception as exc:
            wrong.append(f"{name}: raised {type(exc).__module__}.{type(exc).__name__}: {exc}")
        else:
            wrong.append(f"{name}: returned {result!r:.80}")
    assert not wrong, "expected ValidationError:\n  " + "\n  ".join(wrong)


class SemanticsCases(Base):
    """DESIGN.md semantics 1-4 and 8: what every backend must agree on."""

    # -- e-mails --------------------------------------------------------------

    def test_email_is_stored_normalised(self, adapter: Adapter) -> None:
        created = adapter.create_user(User(email="  Mixed.Case@Example.COM "))
        assert created.email == "mixed.case@example.com"
        stored = adapter.get_user(created.id)
        assert stored is not None
        assert stored.email == "mixed.case@example.com"

    def test_email_is_nfkc_normalised(self, adapter: Adapter) -> None:
        # Fullwidth letters fold to ASCII under NFKC.
        created = adapter.create_user(User(email="\uff26\uff35\uff2c\uff2c@example.com"))
        assert created.email == "full@example.com"
        assert adapter.get_user_by_email("full@example.com") == created

    def test_email_keeps_plus_tags_and_unicode(self, adapter: Adapter) -> None:
        created = adapter.create_user(User(email="\u00c4nn+Tag@B\u00fccher.Example"))
        assert created.email == "\u00e4nn+tag@b\u00fccher.example"
        assert adapter.get_user_by_email("\u00c4NN+TAG@B\u00dcCHER.example") == created

    def test_email_lookup_uses_the_normalised_form(self, adapter: Adapter) -> None:
        created = adapter.create_user(User(email="a@example.com"))
        assert adapter.get_user_by_email("A@Example.COM ") == created
        assert adapter.get_user_by_email(" a@EXAMPLE.com\t") == created

    def test_second_user_with_the_same_normalised_email_conflicts(self, adapter: Adapter) -> None:
        first = adapter.create_user(User(email="a@example.com"))
        with pytest.raises(ConflictError):
            adapter.create_user(User(email="A@Example.COM "))
        assert adapter.counts()["users"] == 1
        assert adapter.get_user_by_email("a@example.com") == first

    def test_update_user_normalises_the_new_email(self, adapter: Adapter) -> None:
        created = self.make_user(adapter)
        updated = adapter.update_user(created.id, email=" New@Example.COM")
        assert updated.email == "new@example.com"
        assert adapter.get_user_by_email("NEW@example.com") == updated
        assert adapter.get_user_by_email(created.email) is None

    def test_update_user_to_a_taken_email_conflicts(self, adapter: Adapter) -> None:
        taken = adapter.create_user(User(email="taken@example.com"))
        mover = self.make_user(adapter)
        with pytest.raises(ConflictError):
            adapter.update_user(mover.id, email="TAKEN@example.com")
        assert adapter.get_user(mover.id) == mover
        assert adapter.get_user_by_email("taken@example.com") == taken

    def test_update_user_keeping_its_own_email_is_fine(self, adapter: Adapter) -> None:
        created = self.make_user(adapter)
        updated = adapter.update_user(created.id, email=created.email.upper(), name="Same")
        assert updated == replace(created, name="Same")

    # -- datetimes ------------------------------------------------------------

    def test_datetimes_round_trip_as_utc_with_microseconds(self, adapter: Adapter) -> None:
        verified = datetime(2031, 5, 6, 7, 8, 9, 654321, tzinfo=_IST)
        expires = datetime(2032, 1, 2, 3, 4, 5, 1, tzinfo=_IST)
        user = self.make_user(adapter, email_verified=verified)
        session = adapter.create_session(self.new_session(user.id, expires=expires))
        token = adapter.create_verification_token(self.new_token(expires=expires))
        created_at = datetime(2020, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
        credential = adapter.create_credential(
            self.new_credential(user.id, created_at=created_at, updated_at=created_at)
        )
        found = adapter.get_session_and_user(session.session_token)
        assert found is not None
        stored_credential = adapter.get_credential(str(credential.id))
        assert stored_credential is not None
        used = adapter.use_verification_token(token.identifier, token.token)
        assert used is not None
        for value, want in [
            (user.email_verified, verified),
            (found[1].email_verified, verified),
            (session.expires, expires),
            (found[0].expires, expires),
            (token.expires, expires),
            (used.expires, expires),
            (stored_credential.created_at, created_at),
            (stored_credential.updated_at, created_at),
        ]:
            assert value == want
            assert value is not None
            assert value.utcoffset() == timedelta(0)
            assert value.microsecond == want.astimezone(UTC).microsecond

    def test_naive_datetimes_are_validation_errors(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        session = adapter.create_session(self.new_session(user.id))
        uid = user.id
        _expect_validation_errors(
            {
                "create_user": lambda: adapter.create_user(self.new_user(email_verified=_NAIVE)),
                "update_user": lambda: adapter.update_user(uid, email_verified=_NAIVE),
                "create_session": lambda: adapter.create_session(
                    self.new_session(uid, expires=_NAIVE)
                ),
                "update_session": lambda: adapter.update_session(
                    session.session_token, expires=_NAIVE
                ),
                "create_verification_token": lambda: adapter.create_verification_token(
                    self.new_token(expires=_NAIVE)
                ),
                "create_credential": lambda: adapter.create_credential(
                    self.new_credential(uid, created_at=_NAIVE)
                ),
                "purge_expired": lambda: adapter.purge_expired(_NAIVE),
            }
        )
        counts = adapter.counts()
        assert (counts["users"], counts["sessions"], counts["credentials"]) == (1, 1, 0)
        assert adapter.get_session_and_user(session.session_token) == (session, user)

    # -- ids ------------------------------------------------------------------

    @pytest.mark.parametrize("operation", sorted(_ID_OPS))
    def test_bad_ids_are_validation_errors(self, adapter: Adapter, operation: str) -> None:
        user = self.make_user(adapter)
        uid = user.id
        call = _ID_OPS[operation]
        _expect_validation_errors(
            {
                f"{operation} with {bad!r:.20}": partial(call, self, adapter, uid, bad)
                for bad in BAD_IDS
            }
        )
        assert adapter.counts()["users"] == 1

    def test_generated_ids_are_valid_and_distinct(self, adapter: Adapter) -> None:
        made = [self.populate(adapter) for _ in range(2)]
        ids = [
            str(m[name].id) for m in made for name in ("user", "account", "session", "credential")
        ]
        for value in ids:
            assert validate_id(value) == value
        assert len(set(ids)) == len(ids)

    def test_given_ids_are_kept(self, adapter: Adapter) -> None:
        longest = "A" * 128
        user = adapter.create_user(self.new_user(id=longest))
        assert user.id == longest
        assert adapter.get_user(longest) == user
        account = adapter.link_account(self.new_account(longest, id="acc_1.x-Y"))
        assert account.id == "acc_1.x-Y"
        session = adapter.create_session(self.new_session(longest, id="..."))
        assert session.id == "..."
        credential = adapter.create_credential(self.new_credential(longest, id="cred-0"))
        assert credential.id == "cred-0"
        assert adapter.get_credential("cred-0") == credential

    # -- custom fields --------------------------------------------------------

    def test_user_extra_round_trips(self, adapter: Adapter) -> None:
        extra: dict[str, Any] = {
            "role": "admin",
            "phone": "00000000000",
            "tags": ["a", "b"],
            "limits": {"daily": 10, "ratio": 0.5, "note": None, "on": True},
            "unicode": "caf\u00e9 \u2713",
        }
        user = self.make_user(adapter, extra=extra)
        assert user.extra == extra
        assert adapter.get_user(user.id) == user
        assert adapter.get_user_by_email(user.email) == user
        session = adapter.create_session(self.new_session(user.id))
        assert adapter.get_session_and_user(session.session_token) == (session, user)

    def test_optional_fields_can_be_empty_and_cleared(self, adapter: Adapter) -> None:
        bare = adapter.create_user(User(email="bare@example.com"))
        assert bare == User(id=bare.id, email="bare@example.com")
        assert adapter.get_user(bare.id) == bare
        full = self.make_user(adapter, name="N", image="i", email_verified=self.now())
        cleared = adapter.update_user(full.id, name=None, image=None, email_verified=None)
        assert cleared == replace(full, name=None, image=None, email_verified=None)
        assert adapter.get_user(full.id) == cleared
        account = Account(
            user_id=bare.id, type="email", provider="email", provider_account_id=bare.email
        )
        linked = adapter.link_account(account)
        assert linked == replace(account, id=linked.id)
        assert adapter.get_account("email", bare.email) == linked

    def test_json_nested_past_the_depth_limit_is_a_validation_error(self, adapter: Adapter) -> None:
        # ~1000 levels would exhaust the interpreter's stack (RecursionError) if
        # anything recursed; the shared validation refuses it first, everywhere.
        deep: dict[str, Any] = {}
        cursor = deep
        for _ in range(1000):
            cursor["n"] = {}
            cursor = cursor["n"]
        deep_list: dict[str, Any] = {"l": []}
        items = deep_list["l"]
        for _ in range(json_limits().max_depth):
            items.append([])
            items = items[0]
        self._refused_everywhere(adapter, {"deep dict": deep, "deep list": deep_list})

    def test_json_past_the_size_limit_is_a_validation_error(self, adapter: Adapter) -> None:
        limit = json_limits().max_bytes
        self._refused_everywhere(
            adapter,
            {
                "10 MB string": {"blob": "x" * 10_000_000},
                "one byte over": {"b": "x" * (limit - len('{"b": ""}') + 1)},
                "many keys": {f"k{n}": 0 for n in range(limit)},
                "multi-byte text": {"t": "\u00e9" * (limit // 2)},
            },
        )

    def test_json_at_the_limits_round_trips(self, adapter: Adapter) -> None:
        limits = json_limits()
        deepest: dict[str, Any] = {}
        cursor = deepest
        for _ in range(limits.max_depth - 1):
            cursor["n"] = {}
            cursor = cursor["n"]
        largest = {"b": "x" * (limits.max_bytes - len('{"b": ""}'))}
        user = self.make_user(adapter, extra=deepest)
        assert adapter.get_user(user.id) == user
        credential = adapter.create_credential(self.new_credential(user.id, data=largest))
        assert adapter.get_credential(credential.id) == credential

    def _refused_everywhere(self, adapter: Adapter, values: dict[str, dict[str, Any]]) -> None:
        """Each value as every JSON field the contract stores: all refused, nothing written."""
        user = self.make_user(adapter, extra={"kept": True})
        uid = str(user.id)
        credential = adapter.create_credential(self.new_credential(uid))
        cid = str(credential.id)
        before = adapter.counts()
        cases: dict[str, Callable[[], object]] = {}
        for label, value in values.items():
            cases |= {
                f"{label}: create_user extra": partial(
                    adapter.create_user, self.new_user(extra=value)
                ),
                f"{label}: update_user extra": partial(adapter.update_user, uid, extra=value),
                f"{label}: link_account extra": partial(
                    adapter.link_account, self.new_account(uid, extra=value)
                ),
                f"{label}: create_credential data": partial(
                    adapter.create_credential, self.new_credential(uid, data=value)
                ),
                f"{label}: update_credential data": partial(
                    adapter.update_credential, cid, value, expected_version=1
                ),
                f"{label}: import_records": partial(
                    adapter.import_records, [self.new_user(extra=value)]
                ),
            }
        _expect_validation_errors(cases)
        assert adapter.counts() == before
        assert adapter.get_user(uid) == user
        assert adapter.get_credential(cid) == credential

    def test_update_user_replaces_extra(self, adapter: Adapter) -> None:
        user = self.make_user(adapter, extra={"role": "user", "old": 1})
        updated = adapter.update_user(user.id, extra={"role": "admin"})
        assert updated.extra == {"role": "admin"}
        assert adapter.get_user(user.id) == updated

    def test_unknown_account_token_fields_round_trip(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        token: dict[str, Any] = {
            "access_token": "at",
            "refresh_token": "rt",
            "expires_at": 1_900_000_000,
            "token_type": "Bearer",
            "scope": "openid email",
            "id_token": "eyJ.x.y",
            "ext_expires_in": 3599,
            "not-before-policy": 0,
            "refresh_expires_in": 1800,
            "claims": {"tid": "abc"},
        }
        account = Account.from_token(
            user_id=user.id,
            type="oidc",
            provider="azure-ad",
            provider_account_id="oid-1",
            token=token,
        )
        linked = adapter.link_account(account)
        assert linked.extra == {
            "ext_expires_in": 3599,
            "not-before-policy": 0,
            "refresh_expires_in": 1800,
            "claims": {"tid": "abc"},
        }
        assert adapter.get_account("azure-ad", "oid-1") == linked
        assert adapter.unlink_account("azure-ad", "oid-1") == linked

    def test_long_and_unicode_text_round_trips(self, adapter: Adapter) -> None:
        user = self.make_user(adapter, name="Zo\u00eb \U0001f600 \u6771\u4eac", image="x" * 4000)
        assert adapter.get_user(user.id) == user
        # Real id tokens (JWTs) run to several kilobytes.
        account = adapter.link_account(self.new_account(user.id, id_token="e" * 16_000))
        assert adapter.get_account(account.provider, account.provider_account_id) == account

    def test_returned_records_are_copies(self, adapter: Adapter) -> None:
        given = self.new_user(extra={"tags": ["a"]})
        user = adapter.create_user(given)
        given.extra["tags"].append("from-input")
        user.extra["tags"].append("from-output")
        fetched = adapter.get_user(user.id)
        assert fetched is not None
        assert fetched.extra == {"tags": ["a"]}
        fetched.extra["tags"].append("from-fetch")
        assert adapter.get_user(user.id) == replace(user, extra={"tags": ["a"]})

    # -- uniqueness -----------------------------------------------------------

    def test_duplicate_user_id_conflicts(self, adapter: Adapter) -> None:
        first = self.make_user(adapter, id="same-id")
        with pytest.raises(ConflictError):
            self.make_user(adapter, id="same-id")
        assert adapter.get_user("same-id") == first
        assert adapter.counts()["users"] == 1

    def test_duplicate_provider_account_conflicts(self, adapter: Adapter) -> None:
        one = self.make_user(adapter)
        two = self.make_user(adapter)
        first = adapter.link_account(self.new_account(one.id, provider_account_id="42"))
        with pytest.raises(ConflictError):
            adapter.link_account(self.new_account(one.id, provider_account_id="42"))
        with pytest.raises(ConflictError):
            adapter.link_account(self.new_account(two.id, provider_account_id="42"))
        assert adapter.get_account("github", "42") == first
        assert adapter.get_user_by_account("github", "42") == one
        assert adapter.counts()["accounts"] == 1

    def test_same_provider_account_id_on_another_provider_is_fine(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        adapter.link_account(self.new_account(user.id, provider_account_id="42"))
        adapter.link_account(self.new_account(user.id, provider="google", provider_account_id="42"))
        assert adapter.counts()["accounts"] == 2

    def test_duplicate_account_id_conflicts(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        adapter.link_account(self.new_account(user.id, id="acc-1"))
        with pytest.raises(ConflictError):
            adapter.link_account(self.new_account(user.id, id="acc-1"))
        assert adapter.counts()["accounts"] == 1

    def test_duplicate_session_token_conflicts(self, adapter: Adapter) -> None:
        one = self.make_user(adapter)
        two = self.make_user(adapter)
        first = adapter.create_session(self.new_session(one.id))
        token = first.session_token
        with pytest.raises(ConflictError):
            adapter.create_session(self.new_session(two.id, session_token=token))
        assert adapter.get_session_and_user(token) == (first, one)
        assert adapter.counts()["sessions"] == 1

    def test_duplicate_session_id_conflicts(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        adapter.create_session(self.new_session(user.id, id="sess-1"))
        with pytest.raises(ConflictError):
            adapter.create_session(self.new_session(user.id, id="sess-1"))
        assert adapter.counts()["sessions"] == 1

    def test_duplicate_verification_token_conflicts(self, adapter: Adapter) -> None:
        first = adapter.create_verification_token(self.new_token(identifier="a@example.com"))
        with pytest.raises(ConflictError):
            adapter.create_verification_token(replace(first, expires=self.later(days=1)))
        # The same token for another identifier is another key.
        adapter.create_verification_token(replace(first, identifier="b@example.com"))
        assert adapter.counts()["verification_tokens"] == 2
        assert adapter.use_verification_token(first.identifier, first.token) == first

    def test_duplicate_authenticator_credential_id_conflicts(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        first = adapter.create_authenticator(self.new_authenticator(user.id, credential_id="c1"))
        with pytest.raises(ConflictError):
            adapter.create_authenticator(self.new_authenticator(user.id, credential_id="c1"))
        assert adapter.get_authenticator("c1") == first
        assert adapter.counts()["authenticators"] == 1

    def test_duplicate_credential_id_conflicts(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        first = adapter.create_credential(self.new_credential(user.id, id="cred-1"))
        with pytest.raises(ConflictError):
            adapter.create_credential(self.new_credential(user.id, id="cred-1", type="totp"))
        assert adapter.get_credential("cred-1") == first
        assert adapter.counts()["credentials"] == 1

    # -- keys are freed by deletes and updates --------------------------------

    def test_deleted_users_email_can_be_used_again(self, adapter: Adapter) -> None:
        first = adapter.create_user(User(email="again@example.com"))
        adapter.delete_user(first.id)
        second = adapter.create_user(User(email="AGAIN@example.com"))
        assert second.id != first.id
        assert adapter.get_user_by_email("again@example.com") == second

    def test_changed_email_frees_the_old_one(self, adapter: Adapter) -> None:
        first = adapter.create_user(User(email="old@example.com"))
        adapter.update_user(first.id, email="new@example.com")
        second = adapter.create_user(User(email="old@example.com"))
        assert adapter.get_user_by_email("old@example.com") == second
        assert adapter.get_user_by_email("new@example.com") == adapter.get_user(first.id)

    def test_unlinked_provider_account_can_be_linked_again(self, adapter: Adapter) -> None:
        one = self.make_user(adapter)
        two = self.make_user(adapter)
        adapter.link_account(self.new_account(one.id, provider_account_id="77"))
        adapter.unlink_account("github", "77")
        relinked = adapter.link_account(self.new_account(two.id, provider_account_id="77"))
        assert adapter.get_account("github", "77") == relinked
        assert adapter.get_user_by_account("github", "77") == two

    def test_deleted_session_token_can_be_used_again(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        first = adapter.create_session(self.new_session(user.id))
        adapter.delete_session(first.session_token)
        again = adapter.create_session(self.new_session(user.id, session_token=first.session_token))
        assert adapter.get_session_and_user(first.session_token) == (again, user)

    def test_delete_authenticator_returns_it_and_frees_its_credential_id(
        self, adapter: Adapter
    ) -> None:
        user = self.make_user(adapter)
        doomed = adapter.create_authenticator(self.new_authenticator(user.id))
        kept = adapter.create_authenticator(self.new_authenticator(user.id))
        assert adapter.delete_authenticator(doomed.credential_id) == doomed
        assert adapter.get_authenticator(doomed.credential_id) is None
        assert adapter.list_authenticators_by_user_id(user.id) == [kept]
        assert adapter.delete_authenticator(doomed.credential_id) is None
        assert adapter.create_authenticator(doomed) == doomed
        assert adapter.get_user(user.id) == user

    def test_deleted_users_keys_can_be_used_again(self, adapter: Adapter) -> None:
        made = self.populate(adapter)
        adapter.delete_user(made["user"].id)
        user = adapter.create_user(made["user"])
        assert user == made["user"]
        assert adapter.link_account(made["account"]) == made["account"]
        assert adapter.create_session(made["session"]) == made["session"]
        assert adapter.create_authenticator(made["authenticator"]) == made["authenticator"]
        assert adapter.create_credential(made["credential"]) == made["credential"]

    # -- references to users --------------------------------------------------

    def test_records_for_a_missing_user_are_not_found_errors(self, adapter: Adapter) -> None:
        ghost = "no-such-user"
        with pytest.raises(NotFoundError):
            adapter.link_account(self.new_account(ghost))
        with pytest.raises(NotFoundError):
            adapter.create_session(self.new_session(ghost))
        with pytest.raises(NotFoundError):
            adapter.create_authenticator(self.new_authenticator(ghost))
        with pytest.raises(NotFoundError):
            adapter.create_credential(self.new_credential(ghost))
        assert adapter.counts() == dict.fromkeys(adapter.counts(), 0)

    def test_update_session_can_move_it_to_another_user(self, adapter: Adapter) -> None:
        one = self.make_user(adapter)
        two = self.make_user(adapter)
        session = adapter.create_session(self.new_session(one.id))
        moved = adapter.update_session(session.session_token, user_id=two.id)
        assert moved == replace(session, user_id=two.id)
        assert adapter.get_session_and_user(session.session_token) == (moved, two)
        assert adapter.list_sessions(one.id) == []

    def test_moving_a_session_to_a_missing_user_is_a_not_found_error(
        self, adapter: Adapter
    ) -> None:
        user = self.make_user(adapter)
        session = adapter.create_session(self.new_session(user.id))
        with pytest.raises(NotFoundError):
            adapter.update_session(session.session_token, user_id="no-such-user")
        assert adapter.get_session_and_user(session.session_token) == (session, user)

    # -- misses ---------------------------------------------------------------

    @pytest.mark.parametrize("operation", sorted(_MISSES))
    def test_a_miss_returns_none_or_empty(self, adapter: Adapter, operation: str) -> None:
        self.populate(adapter)
        before = adapter.counts()
        call, expected = _MISSES[operation]
        assert call(adapter) == expected
        assert adapter.counts() == before

    # -- input of the wrong type ----------------------------------------------

    def test_wrong_user_input_is_a_validation_error(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        _expect_validation_errors(
            {
                "create_user(str)": lambda: adapter.create_user(wrong("someone@example.com")),
                "create_user(dict)": lambda: adapter.create_user(wrong({"email": "x@example.com"})),
                "email int": lambda: adapter.create_user(User(email=wrong(123))),
                "email without @": lambda: adapter.create_user(User(email="nobody")),
                "email empty": lambda: adapter.create_user(User(email="   ")),
                "email with NUL": lambda: adapter.create_user(User(email="a\x00b@example.com")),
                "name int": lambda: adapter.create_user(self.new_user(name=5)),
                "name over 64 KiB": lambda: adapter.create_user(self.new_user(name="n" * 70_000)),
                "email_verified str": lambda: adapter.create_user(
                    self.new_user(email_verified="2024-01-01T00:00:00Z")
                ),
                "extra list": lambda: adapter.create_user(self.new_user(extra=[1])),
                "extra set": lambda: adapter.create_user(self.new_user(extra={"s": {1}})),
                "extra NaN": lambda: adapter.create_user(self.new_user(extra={"n": math.nan})),
                "extra int key": lambda: adapter.create_user(self.new_user(extra={1: "x"})),
                "extra object": lambda: adapter.create_user(self.new_user(extra={"o": object()})),
                "extra NUL": lambda: adapter.create_user(self.new_user(extra={"n": ["a\x00"]})),
                "name lone surrogate": lambda: adapter.create_user(self.new_user(name="\ud800")),
                "get_user(int)": lambda: adapter.get_user(wrong(123)),
                "get_user(None)": lambda: adapter.get_user(wrong(None)),
                "get_user_by_email(None)": lambda: adapter.get_user_by_email(wrong(None)),
                "get_user_by_email(int)": lambda: adapter.get_user_by_email(wrong(123)),
                "get_user_by_account(None)": lambda: adapter.get_user_by_account(wrong(None), "x"),
                "update_user name int": lambda: adapter.update_user(uid, name=5),
                "update_user unknown field": lambda: adapter.update_user(uid, bogus=1),
                "update_user email None": lambda: adapter.update_user(uid, email=None),
                "delete_user(int)": lambda: adapter.delete_user(wrong(123)),
            }
        )
        assert adapter.get_user(uid) == user
        assert adapter.counts()["users"] == 1

    def test_wrong_account_input_is_a_validation_error(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        _expect_validation_errors(
            {
                "type": lambda: adapter.link_account(self.new_account(uid, type="password")),
                "expires_at str": lambda: adapter.link_account(
                    self.new_account(uid, expires_at="soon")
                ),
                "expires_at bool": lambda: adapter.link_account(
                    self.new_account(uid, expires_at=True)
                ),
                "expires_at float": lambda: adapter.link_account(
                    self.new_account(uid, expires_at=1.5)
                ),
                "expires_at 2**70": lambda: adapter.link_account(
                    self.new_account(uid, expires_at=2**70)
                ),
                "provider empty": lambda: adapter.link_account(self.new_account(uid, provider="")),
                "provider int": lambda: adapter.link_account(self.new_account(uid, provider=7)),
                "access_token int": lambda: adapter.link_account(
                    self.new_account(uid, access_token=123)
                ),
                "scope with NUL": lambda: adapter.link_account(
                    self.new_account(uid, scope="a\x00b")
                ),
                "extra str": lambda: adapter.link_account(self.new_account(uid, extra="{}")),
                "link_account(dict)": lambda: adapter.link_account(wrong({"user_id": uid})),
                "get_account(None)": lambda: adapter.get_account(wrong(None), "x"),
                "get_account(int)": lambda: adapter.get_account("github", wrong(42)),
                "get_account NUL": lambda: adapter.get_account("git\x00hub", "x"),
                "unlink_account(None)": lambda: adapter.unlink_account("github", wrong(None)),
            }
        )
        assert adapter.counts()["accounts"] == 0

    def test_wrong_session_input_is_a_validation_error(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        session = adapter.create_session(self.new_session(uid))
        token = session.session_token
        _expect_validation_errors(
            {
                "expires str": lambda: adapter.create_session(
                    self.new_session(uid, expires="tomorrow")
                ),
                "expires int": lambda: adapter.create_session(
                    self.new_session(uid, expires=1_900_000_000)
                ),
                "token int": lambda: adapter.create_session(self.new_session(uid, session_token=1)),
                "token empty": lambda: adapter.create_session(
                    self.new_session(uid, session_token="")
                ),
                "create_session(dict)": lambda: adapter.create_session(wrong({"user_id": uid})),
                "update expires str": lambda: adapter.update_session(token, expires="never"),
                "update unknown field": lambda: adapter.update_session(token, id="x"),
                "update token None": lambda: adapter.update_session(
                    wrong(None), expires=self.now()
                ),
                "get_session_and_user(None)": lambda: adapter.get_session_and_user(wrong(None)),
                "get_session_and_user(bytes)": lambda: adapter.get_session_and_user(wrong(b"tok")),
                "delete_session(int)": lambda: adapter.delete_session(wrong(123)),
                "list_sessions(None)": lambda: adapter.list_sessions(wrong(None)),
            }
        )
        assert adapter.list_sessions(uid) == [session]

    def test_wrong_verification_token_input_is_a_validation_error(self, adapter: Adapter) -> None:
        _expect_validation_errors(
            {
                "expires int": lambda: adapter.create_verification_token(
                    self.new_token(expires=1_900_000_000)
                ),
                "token None": lambda: adapter.create_verification_token(self.new_token(token=None)),
                "identifier empty": lambda: adapter.create_verification_token(
                    self.new_token(identifier="")
                ),
                "create(dict)": lambda: adapter.create_verification_token(wrong({"token": "x"})),
                "use(None, str)": lambda: adapter.use_verification_token(wrong(None), "x"),
                "use(str, int)": lambda: adapter.use_verification_token("a@example.com", wrong(5)),
                "use with NUL": lambda: adapter.use_verification_token("a@example.com", "x\x00"),
            }
        )
        assert adapter.counts()["verification_tokens"] == 0

    def test_wrong_authenticator_input_is_a_validation_error(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        existing = adapter.create_authenticator(self.new_authenticator(uid))
        cid = existing.credential_id
        _expect_validation_errors(
            {
                "counter str": lambda: adapter.create_authenticator(
                    self.new_authenticator(uid, counter="1")
                ),
                "counter bool": lambda: adapter.create_authenticator(
                    self.new_authenticator(uid, counter=True)
                ),
                "backed_up str": lambda: adapter.create_authenticator(
                    self.new_authenticator(uid, credential_backed_up="yes")
                ),
                "public key bytes": lambda: adapter.create_authenticator(
                    self.new_authenticator(uid, credential_public_key=b"key")
                ),
                "credential_id empty": lambda: adapter.create_authenticator(
                    self.new_authenticator(uid, credential_id="")
                ),
                "update counter str": lambda: adapter.update_authenticator_counter(cid, wrong("2")),
                "update counter float": lambda: adapter.update_authenticator_counter(
                    cid, wrong(2.5)
                ),
                "update counter None": lambda: adapter.update_authenticator_counter(
                    cid, wrong(None)
                ),
                "get_authenticator(None)": lambda: adapter.get_authenticator(wrong(None)),
                "delete_authenticator(None)": lambda: adapter.delete_authenticator(wrong(None)),
                "delete_authenticator('')": lambda: adapter.delete_authenticator(""),
            }
        )
        assert adapter.list_authenticators_by_user_id(uid) == [existing]

    def test_wrong_credential_input_is_a_validation_error(self, adapter: Adapter) -> None:
        user = self.make_user(adapter)
        uid = str(user.id)
        existing = adapter.create_credential(self.new_credential(uid))
        cid = str(existing.id)
        _expect_validation_errors(
            {
                "data str": lambda: adapter.create_credential(self.new_credential(uid, data="x")),
                "data object": lambda: adapter.create_credential(
                    self.new_credential(uid, data={"o": object()})
                ),
                "type empty": lambda: adapter.create_credential(self.new_credential(uid, type="")),
                "version 0": lambda: adapter.create_credential(self.new_credential(uid, version=0)),
                "version str": lambda: adapter.create_credential(
                    self.new_credential(uid, version="1")
                ),
                "create(dict)": lambda: adapter.create_credential(wrong({"user_id": uid})),
                "update data str": lambda: adapter.update_credential(
                    cid, wrong("x"), expected_version=1
                ),
                "update version str": lambda: adapter.update_credential(
                    cid,
                    {},
                    expected_version=wrong("1"),
                ),
                "update version None": lambda: adapter.update_credential(
                    cid,
                    {},
                    expected_version=wrong(None),
                ),
                "list type int": lambda: adapter.list_credentials(uid, type=wrong(5)),
            }
        )
        assert adapter.list_credentials(uid) == [existing]

    def test_wrong_housekeeping_input_is_a_validation_error(self, adapter: Adapter) -> None:
        _expect_validation_errors(
            {
                "purge_expired(str)": lambda: adapter.purge_expired(wrong("now")),
                "purge_expired(int)": lambda: adapter.purge_expired(wrong(0)),
                "import_records(object)": lambda: adapter.import_records([wrong(object())]),
                "import_records(dict)": lambda: adapter.import_records(
                    [wrong({"email": "x@example.com"})]
                ),
            }
        )
        assert adapter.counts() == dict.fromkeys(adapter.counts(), 0)
