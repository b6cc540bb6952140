"""Passkeys shared with Auth.js: checked by the real ``@simplewebauthn/server`` (what Auth.js uses).

One way: a passkey registered through ``PasskeyService`` is read back as
stored (the raw row, behind the adapter's back) and verified by
SimpleWebAuthn exactly as Auth.js's WebAuthn provider decodes it. The other
way: SimpleWebAuthn verifies a registration, the rows Auth.js's adapter would
write are written (with SQL on SQLite and Postgres), and this package signs
in with that passkey, lists it and removes it.
"""

from __future__ import annotations

import secrets
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from auth_store import Account, Authenticator, User
from auth_store.adapter import Adapter
from auth_store.passkeys import PasskeyService
from auth_store.signing import Signer
from auth_store.testing import stores
from auth_store.testing.raw import raw_storage_for, sqlite_path
from tests.fake_clock import FakeClock
from tests.node import run_node
from tests.pg import conninfo, schema_of
from tests.soft_authenticator import SoftAuthenticator, b64url

RP_ID = "example.com"
ORIGIN = "https://example.com"
SCRIPT = "simplewebauthn_passkeys.mjs"
_CAMEL = {
    "credential_id": "credentialID",
    "user_id": "userId",
    "provider_account_id": "providerAccountId",
    "credential_public_key": "credentialPublicKey",
    "credential_device_type": "credentialDeviceType",
    "credential_backed_up": "credentialBackedUp",
}


@pytest.fixture(params=stores.backend_params())
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Adapter, str]]:
    with stores.fresh_store(request.param, tmp_path) as store_and_url:
        yield store_and_url


@pytest.fixture
def service(opened: tuple[Adapter, str], monkeypatch: pytest.MonkeyPatch) -> PasskeyService:
    FakeClock.install(monkeypatch)
    return PasskeyService(opened[0], signer=Signer(Signer.generate()), rp_id=RP_ID, origins=ORIGIN)


def stored_row(store: Adapter, url: str, credential_id: str) -> dict[str, Any]:
    """The authenticator as stored, in Auth.js's field names (SQL rows already are)."""
    for raw in raw_storage_for(store, url).records("authenticators"):
        row = {_CAMEL.get(k, k): v for k, v in raw.items()}
        if row["credentialID"] == credential_id:
            row["credentialBackedUp"] = bool(row["credentialBackedUp"])  # SQLite: 0/1
            return row
    raise AssertionError("the authenticator is not stored")


def simplewebauthn_verifies(row: dict[str, Any], device: SoftAuthenticator, **get: Any) -> Any:
    """Have ``device`` answer a fresh challenge; return SimpleWebAuthn's verdict for ``row``."""
    challenge = b64url(secrets.token_bytes(32))
    options = {"challenge": challenge, "rpId": RP_ID, "allowCredentials": []}
    return run_node(
        SCRIPT,
        {
            "op": "verify-authentication",
            "row": row,
            "response": device.get(options, origin=ORIGIN, **get),
            "expectedChallenge": challenge,
            "expectedOrigin": ORIGIN,
            "expectedRPID": RP_ID,
        },
    )


def write_as_authjs(store: Adapter, url: str, user_id: str, rows: dict[str, Any]) -> None:
    """Store the account and authenticator as Auth.js's adapter would (SQL where there is SQL)."""
    account, authenticator = rows["account"], rows["authenticator"]
    columns = (
        "credentialID",
        "providerAccountId",
        "credentialPublicKey",
        "counter",
        "credentialDeviceType",
        "credentialBackedUp",
        "transports",
    )
    values = [authenticator[c] for c in columns]
    insert_authenticator = (
        'INSERT INTO authenticators ("userId", "credentialID", "providerAccountId",'
        ' "credentialPublicKey", counter, "credentialDeviceType", "credentialBackedUp",'
        " transports) VALUES ({0}, {0}, {0}, {0}, {0}, {0}, {0}, {0})"
    )
    if url.startswith("postgresql"):
        with psycopg.connect(conninfo(url), autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema_of(url)}"')
            # No id: the Next.js app leaves it to the column's serial default.
            conn.execute(
                'INSERT INTO accounts ("userId", type, provider, "providerAccountId")'
                " VALUES (%s, %s, %s, %s)",
                (user_id, account["type"], account["provider"], account["providerAccountId"]),
            )
            conn.execute(insert_authenticator.format("%s"), (user_id, *values))
    elif url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(url)) as db:
            db.execute(
                'INSERT INTO accounts (id, "userId", type, provider, "providerAccountId")'
                " VALUES (?, ?, ?, ?, ?)",
                (
                    str(uuid.uuid4()),
                    user_id,
                    account["type"],
                    account["provider"],
                    account["providerAccountId"],
                ),
            )
            db.execute(insert_authenticator.format("?"), (user_id, *values))
        db.close()
    else:  # memory and files: the adapter is the only way in
        store.link_account(
            Account(
                user_id=user_id,
                type=account["type"],
                provider=account["provider"],
                provider_account_id=account["providerAccountId"],
            )
        )
        store.create_authenticator(
            Authenticator(
                user_id=user_id,
                credential_id=authenticator["credentialID"],
                provider_account_id=authenticator["providerAccountId"],
                credential_public_key=authenticator["credentialPublicKey"],
                counter=authenticator["counter"],
                credential_device_type=authenticator["credentialDeviceType"],
                credential_backed_up=authenticator["credentialBackedUp"],
                transports=authenticator["transports"],
            )
        )


def test_a_passkey_registered_here_verifies_in_simplewebauthn_as_stored(
    opened: tuple[Adapter, str], service: PasskeyService
) -> None:
    store, url = opened
    ann = store.create_user(User(email="ann@example.com"))
    device = SoftAuthenticator(counter_step=1)
    challenge = service.registration_options(ann)
    response = device.create(challenge.options, origin=ORIGIN)
    passkey = service.register(ann, response, state=challenge.state)

    row = stored_row(store, url, passkey.credential_id)
    # Auth.js finds the user through the account: getAccount(providerAccountId, "passkey").
    account = store.get_account("passkey", row["providerAccountId"])
    assert account is not None
    assert (account.type, account.user_id) == ("webauthn", ann.id)
    verdict = simplewebauthn_verifies(row, device)
    assert verdict["verified"] is True
    assert verdict["credentialID"] == passkey.id
    assert verdict["newCounter"] == 1
    assert (verdict["credentialDeviceType"], verdict["credentialBackedUp"]) == ("multiDevice", True)

    # A sign-in here moves the stored counter; SimpleWebAuthn then refuses an older one.
    challenge = service.sign_in_options()
    service.sign_in(device.get(challenge.options, origin=ORIGIN), state=challenge.state)
    row = stored_row(store, url, passkey.credential_id)
    assert row["counter"] == 2
    assert simplewebauthn_verifies(row, device, sign_count=2)["verified"] is False
    assert simplewebauthn_verifies(row, device)["verified"] is True


@pytest.mark.parametrize("alg", ["RS256", "EdDSA"])
def test_other_key_types_verify_in_simplewebauthn(
    opened: tuple[Adapter, str], service: PasskeyService, alg: str
) -> None:
    store, url = opened
    ann = store.create_user(User(email="ann@example.com"))
    device = SoftAuthenticator(alg=alg)
    challenge = service.registration_options(ann)
    passkey = service.register(
        ann, device.create(challenge.options, origin=ORIGIN), state=challenge.state
    )
    assert simplewebauthn_verifies(stored_row(store, url, passkey.credential_id), device)[
        "verified"
    ]


def test_a_passkey_auth_js_registered_signs_in_here(
    opened: tuple[Adapter, str], service: PasskeyService
) -> None:
    store, url = opened
    ann = store.create_user(User(email="ann@example.com"))
    options = run_node(
        SCRIPT,
        {"op": "registration-options", "rpID": RP_ID, "rpName": "Example", "email": ann.email},
    )
    device = SoftAuthenticator(counter_step=1, transports=("internal",))
    response = device.create(options, origin=ORIGIN)
    rows = run_node(
        SCRIPT,
        {
            "op": "verify-registration",
            "response": response,
            "expectedChallenge": options["challenge"],
            "expectedOrigin": ORIGIN,
            "expectedRPID": RP_ID,
            "provider": "passkey",
        },
    )
    credential_id = rows["authenticator"]["credentialID"]
    assert rows["authenticator"]["transports"] == "internal"
    write_as_authjs(store, url, str(ann.id), rows)

    # Usernameless: Auth.js's user handle is random and unrecorded; the row names the owner.
    challenge = service.sign_in_options()
    result = service.sign_in(device.get(challenge.options, origin=ORIGIN), state=challenge.state)
    assert result.user == ann
    assert result.passkey.credential_id == credential_id
    # With the e-mail: the row is listed to the browser and works.
    challenge = service.sign_in_options("ann@example.com")
    assert [c["id"] for c in challenge.options["allowCredentials"]] == [result.passkey.id]
    assert (
        service.sign_in(device.get(challenge.options, origin=ORIGIN), state=challenge.state).user
        == ann
    )

    (listed,) = service.list(ann)
    assert (listed.name, listed.created_at) == ("Passkey", None)  # Auth.js records neither
    assert listed.last_used_at is not None
    # Auth.js goes on using it after us: the counter we stored is the one it checks.
    row = stored_row(store, url, credential_id)
    assert row["counter"] == 2
    assert simplewebauthn_verifies(row, device)["verified"] is True

    proof = service.proofs.issue(ann, "passkey")
    service.delete(ann, listed.id, proof=proof)
    assert store.get_authenticator(credential_id) is None
    assert store.get_account("passkey", credential_id) is None
