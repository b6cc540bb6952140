"""``auth-store users show`` lists passkeys; ``auth-store passkeys`` lists and removes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from auth_store import User, connect
from auth_store.cli import cli
from auth_store.passkey_store import Passkey
from auth_store.passkeys import PasskeyService, PasskeyVerificationError
from auth_store.signing import Signer
from tests.soft_authenticator import SoftAuthenticator

ORIGIN = "https://example.com"


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def run_json(*args: str) -> Any:
    result = run("--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/auth.db"


@pytest.fixture
def signer() -> Signer:
    return Signer(Signer.generate())


def service_for(url: str, signer: Signer) -> PasskeyService:
    return PasskeyService(connect(url), signer=signer, rp_id="example.com", origins=ORIGIN)


def register(service: PasskeyService, user: User, device: SoftAuthenticator, name: str) -> Passkey:
    challenge = service.registration_options(user)
    response = device.create(challenge.options, origin=ORIGIN)
    return service.register(user, response, state=challenge.state, name=name)


def test_users_show_and_passkeys_list_show_passkeys(url: str, signer: Signer) -> None:
    service = service_for(url, signer)
    ann = service.adapter.create_user(User(email="ann@example.com"))
    phone = register(service, ann, SoftAuthenticator(), "Phone")
    key = register(service, ann, SoftAuthenticator(backup_eligible=False, backed_up=False), "Key")
    service.adapter.close()

    shown = run_json("--url", url, "users", "show", "ann@example.com")
    listed = {p["name"]: p for p in shown["passkeys"]}
    assert set(listed) == {"Phone", "Key"}
    assert listed["Phone"]["id"] == phone.id
    assert listed["Phone"]["credential_id"] == phone.credential_id
    assert (listed["Phone"]["device_type"], listed["Phone"]["backed_up"]) == ("multiDevice", True)
    assert (listed["Key"]["device_type"], listed["Key"]["backed_up"]) == ("singleDevice", False)
    assert listed["Key"]["created_at"] is not None
    assert listed["Key"]["last_used_at"] is None
    assert run_json("--url", url, "passkeys", "list", str(ann.id)) == shown["passkeys"]

    service = service_for(url, signer)
    service.rename(ann, key.id, "[red]Key[/red]")
    service.adapter.close()
    text = run("--url", url, "users", "show", "ann@example.com").stdout
    assert "passkeys: 2" in text
    assert "[red]Key[/red]" in text  # shown as written, not as markup
    for expected in ("Phone", "Key", phone.id, key.id, "synced", "single device", "never"):
        assert expected in text


def test_passkeys_delete_removes_a_lost_device(url: str, signer: Signer) -> None:
    service = service_for(url, signer)
    ann = service.adapter.create_user(User(email="ann@example.com"))
    lost, kept = SoftAuthenticator(), SoftAuthenticator()
    gone = register(service, ann, lost, "Lost phone")
    register(service, ann, kept, "Laptop")

    # "--" ends the options: a passkey id (base64url) may start with "-".
    refused = run("--url", url, "passkeys", "delete", "ann@example.com", "--", gone.id, input="n\n")
    assert refused.exit_code == 1  # aborted at the prompt
    assert len(service.list(ann)) == 2

    done = run_json("--url", url, "passkeys", "delete", "--yes", "ann@example.com", "--", gone.id)
    assert [p["id"] for p in done["deleted"]] == [gone.id]
    assert [p.name for p in service.list(ann)] == ["Laptop"]
    assert service.adapter.get_authenticator(gone.credential_id) is None
    assert service.adapter.get_account("passkey", gone.credential_id) is None
    challenge = service.sign_in_options()
    with pytest.raises(PasskeyVerificationError):
        service.sign_in(lost.get(challenge.options, origin=ORIGIN), state=challenge.state)

    missing = run(
        "--url", url, "passkeys", "delete", "--yes", "ann@example.com", "--", gone.id, "not/valid"
    )
    assert missing.exit_code == 1
    assert "no such passkey(s)" in missing.output

    assert run("--url", url, "passkeys", "delete", "ann@example.com").exit_code == 2
    assert run("--url", url, "passkeys", "delete", "ann@example.com", "x", "--all").exit_code == 2
    everything = run_json("--url", url, "passkeys", "delete", str(ann.id), "--all", "--yes")
    assert [p["name"] for p in everything["deleted"]] == ["Laptop"]
    assert service.list(ann) == []
    service.adapter.close()


def test_another_users_passkey_is_not_found(url: str, signer: Signer) -> None:
    service = service_for(url, signer)
    ann = service.adapter.create_user(User(email="ann@example.com"))
    bob = service.adapter.create_user(User(email="bob@example.com"))
    anns = register(service, ann, SoftAuthenticator(), "Phone")
    result = run("--url", url, "passkeys", "delete", "--yes", str(bob.id), "--", anns.id)
    assert result.exit_code == 1
    assert [p.id for p in service.list(ann)] == [anns.id]
    service.adapter.close()
