"""A software WebAuthn authenticator and browser, for ceremony tests without a browser.

It does what a browser plus an authenticator do with the options a server
sends: ``create`` makes a key pair (ES256, RS256 or EdDSA, from
``cryptography``), builds real ``clientDataJSON``, ``authenticatorData`` and a
CBOR ``attestationObject`` (format ``none``, or ``packed`` self-attestation)
and returns a WebAuthn Level 3 ``RegistrationResponseJSON``; ``get`` signs
``authenticatorData || SHA-256(clientDataJSON)`` with the credential's key
and returns an ``AuthenticationResponseJSON``. Every field a test wants to
get wrong (origin, RP id, counter, flags, user handle) is an argument.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

__all__ = ["Credential", "SoftAuthenticator", "b64url", "from_b64url"]

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass
class Credential:
    """A credential the authenticator holds."""

    id: bytes
    key: PrivateKey
    alg: str
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        public = self.key.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            numbers = public.public_numbers()
            cose: dict[int, Any] = {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        elif isinstance(public, rsa.RSAPublicKey):
            rsa_numbers = public.public_numbers()
            cose = {
                1: 3,  # kty: RSA
                3: -257,  # alg: RS256
                -1: rsa_numbers.n.to_bytes((rsa_numbers.n.bit_length() + 7) // 8, "big"),
                -2: rsa_numbers.e.to_bytes(3, "big"),
            }
        else:
            assert isinstance(public, ed25519.Ed25519PublicKey)
            from cryptography.hazmat.primitives import serialization

            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            cose = {1: 1, 3: -8, -1: 6, -2: raw}  # OKP, EdDSA, Ed25519
        return cbor2.dumps(cose)

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return self.key.sign(data)

    @property
    def cose_alg(self) -> int:
        return {"ES256": -7, "RS256": -257, "EdDSA": -8}[self.alg]


def _new_key(alg: str) -> PrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(alg)


class SoftAuthenticator:
    """One authenticator (with the browser around it) holding any number of credentials.

    ``counter_step`` is how much the signature counter grows per use (0: a
    synced passkey that keeps no counter). ``backup_eligible``/``backed_up``
    set the BE/BS flags; ``user_verified`` the UV flag.
    """

    def __init__(
        self,
        *,
        alg: str = "ES256",
        counter_step: int = 1,
        backup_eligible: bool = True,
        backed_up: bool = True,
        user_verified: bool = True,
        aaguid: bytes = bytes(16),
        transports: tuple[str, ...] = ("hybrid", "internal"),
    ) -> None:
        self.alg = alg
        self.counter_step = counter_step
        self.backup_eligible = backup_eligible
        self.backed_up = backed_up
        self.user_verified = user_verified
        self.aaguid = aaguid
        self.transports = transports
        self.credentials: dict[bytes, Credential] = {}

    def _flags(self, *, attested: bool, user_verified: bool | None) -> int:
        flags = UP
        if self.user_verified if user_verified is None else user_verified:
            flags |= UV
        if self.backup_eligible:
            flags |= BE
        if self.backed_up:
            flags |= BS
        if attested:
            flags |= AT
        return flags

    @staticmethod
    def client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False},
            separators=(",", ":"),
        ).encode()

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str,
        rp_id: str | None = None,
        attestation: str = "none",
        credential_id: bytes | None = None,
    ) -> dict[str, Any]:
        """Answer ``navigator.credentials.create({publicKey: options})``.

        ``rp_id`` overrides the RP id the authenticator hashes (default: the
        options'). Refuses (``ValueError``) when a credential it holds is in
        ``excludeCredentials``, as a real authenticator does.
        """
        rp = rp_id or options["rp"]["id"]
        excluded = {from_b64url(c["id"]) for c in options.get("excludeCredentials", [])}
        if excluded & set(self.credentials):
            raise ValueError("InvalidStateError: a credential of this authenticator is excluded")
        algs = [p["alg"] for p in options["pubKeyCredParams"]]
        assert {"ES256": -7, "RS256": -257, "EdDSA": -8}[self.alg] in algs
        cred = Credential(
            id=credential_id or secrets.token_bytes(16),
            key=_new_key(self.alg),
            alg=self.alg,
            rp_id=rp,
            user_handle=from_b64url(options["user"]["id"]),
        )
        self.credentials[cred.id] = cred
        client_data = self.client_data("webauthn.create", options["challenge"], origin)
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags(attested=True, user_verified=None)])
            + cred.sign_count.to_bytes(4, "big")
            + self.aaguid
            + len(cred.id).to_bytes(2, "big")
            + cred.id
            + cred.cose_public_key()
        )
        if attestation == "packed":  # self attestation: signed by the credential's own key
            signed = cred.sign(auth_data + hashlib.sha256(client_data).digest())
            statement: dict[str, Any] = {"alg": cred.cose_alg, "sig": signed}
            fmt = "packed"
        else:
            statement, fmt = {}, "none"
        attestation_object = cbor2.dumps({"fmt": fmt, "attStmt": statement, "authData": auth_data})
        return {
            "id": b64url(cred.id),
            "rawId": b64url(cred.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation_object),
                "transports": list(self.transports),
            },
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str,
        credential: bytes | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
        user_handle: bytes | bool | None = True,
        user_verified: bool | None = None,
        challenge: str | None = None,
    ) -> dict[str, Any]:
        """Answer ``navigator.credentials.get({publicKey: options})``.

        Uses ``credential`` (default: the first one ``allowCredentials``
        names, or any this authenticator holds for the RP when the list is
        empty). ``sign_count`` overrides the counter it reports;
        ``user_handle`` is the stored handle (``True``), none (``None``) or
        the given bytes.
        """
        rp = rp_id or options["rpId"]
        if credential is None:
            allowed = [from_b64url(c["id"]) for c in options.get("allowCredentials", [])]
            held = [c for c in self.credentials.values() if not allowed or c.id in allowed]
            assert held, "this authenticator holds no credential the options allow"
            cred = held[0]
        else:
            cred = self.credentials[credential]
        if sign_count is None:
            cred.sign_count += self.counter_step
            count = cred.sign_count
        else:
            count = sign_count
        client_data = self.client_data("webauthn.get", challenge or options["challenge"], origin)
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags(attested=False, user_verified=user_verified)])
            + count.to_bytes(4, "big")
        )
        signature = cred.sign(auth_data + hashlib.sha256(client_data).digest())
        response: dict[str, Any] = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if user_handle is True:
            response["userHandle"] = b64url(cred.user_handle)
        elif isinstance(user_handle, bytes):
            response["userHandle"] = b64url(user_handle)
        return {
            "id": b64url(cred.id),
            "rawId": b64url(cred.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": response,
        }
