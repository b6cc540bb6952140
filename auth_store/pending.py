"""The pending second step: what a sign-in carries between its first and second factor.

After the first factor the client gets a signed value (``SecondFactorRequired.
pending``) naming the user and the ways they may finish. It is good for
``max_age`` and for one finished sign-in: issuing it stores a verification
token (``second-step:<user id>``, only the token's SHA-256 kept) that finishing
spends through the adapter's atomic ``use_verification_token``. A failed code
does not spend it (the person may retry a typo, within the attempt limits);
a second sign-in with the same value, even with another valid code, fails.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from . import clock
from ._twins import Steps, StoreT, Twin, twin
from .adapter import Adapter
from .models import VerificationToken
from .signing import InvalidSignatureError, Signer

__all__ = ["PendingSecondStep", "PendingSignIns", "PendingSignInsCore"]

_PURPOSE = "second-factor"
_IDENTIFIER = "second-step:"


@dataclass(frozen=True)
class PendingSecondStep:
    """A pending value read back: whose sign-in it is and the ways it may finish."""

    user_id: str
    methods: tuple[str, ...]
    nonce: str


class PendingSignInsCore(Twin[StoreT]):
    """Issues, reads and spends pending second steps for one store."""

    def __init__(self, adapter: StoreT, signer: Signer, *, max_age: timedelta) -> None:
        super().__init__(adapter)
        self.signer = signer
        self.max_age = max_age

    @twin
    def issue(self, user_id: str, methods: list[str]) -> Steps[str]:
        """A new pending value for ``user_id``, good once within ``max_age``."""
        nonce = secrets.token_urlsafe(32)
        yield from self._store(
            Adapter.create_verification_token,
            VerificationToken(
                identifier=_IDENTIFIER + user_id,
                token=_digest(nonce),
                expires=clock.now() + self.max_age,
            ),
        )
        return self.signer.dumps({"u": user_id, "m": methods, "t": nonce}, purpose=_PURPOSE)

    def read(self, pending: str | None) -> PendingSecondStep | None:
        """What a pending value says, or ``None`` if it is absent, forged or too old.

        Reading does not spend it: ``spend`` does, once the second factor passed.
        """
        if not pending or not isinstance(pending, str):
            return None
        try:
            data = self.signer.loads(pending, purpose=_PURPOSE, max_age=self.max_age)
        except InvalidSignatureError:
            return None
        if not isinstance(data, dict):
            return None
        user_id, nonce, listed = data.get("u"), data.get("t"), data.get("m")
        # A value from before pending steps were single-use has no nonce: refused.
        if not isinstance(user_id, str) or not isinstance(nonce, str):
            return None
        if not isinstance(listed, list):
            return None
        methods = tuple(m for m in listed if isinstance(m, str))
        return PendingSecondStep(user_id=user_id, methods=methods, nonce=nonce)

    @twin
    def spend(self, step: PendingSecondStep) -> Steps[bool]:
        """Use up a pending second step; True for exactly one caller, once."""
        used = yield from self._store(
            Adapter.use_verification_token, _IDENTIFIER + step.user_id, _digest(step.nonce)
        )
        return used is not None and used.expires > clock.now()


def _digest(nonce: str) -> str:
    # The nonce is 256 random bits: a plain hash is enough to keep it out of the store.
    return hashlib.sha256(nonce.encode()).hexdigest()


class PendingSignIns(PendingSignInsCore[Adapter]):
    """Pending second steps on a sync store (``auth_store.aio.PendingSignIns``: the async twin)."""
