"""Per-user credential "slots": one credential per (user, type[, name]) under a fixed id.

The secret services keep, for example, one password hash per user. The id of
that credential is derived from the user id, so two processes creating it at
once collide on the id (one ``ConflictError``) instead of making two, and a
read is one primary-key lookup. Changes go through compare-and-set, retried
when another writer got there first.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from typing import Any

from ._twins import Steps, sleep, store_call
from .adapter import Adapter
from .errors import ConflictError, StorageError
from .models import Credential

__all__ = ["change_slot", "slot_id"]

_TRIES = 200


def slot_id(type: str, user_id: str, name: str = "") -> str:
    """The fixed credential id of a user's ``type`` slot (``name`` tells several apart)."""
    digest = hashlib.sha256(f"{type}\x00{user_id}\x00{name}".encode()).hexdigest()[:32]
    return f"{type}-{digest}"


def change_slot(
    adapter: object,
    *,
    user_id: str,
    type: str,
    id: str,
    change: Callable[[Credential | None], dict[str, Any] | None],
) -> Steps[Credential | None]:
    """Steps that apply ``change`` to the slot credential ``id`` atomically and return the result.

    ``change`` gets the stored credential (``None`` when there is none) and
    returns the new ``data``, or ``None`` to leave things as they are (the
    current credential is then returned). It runs again, on a fresh read,
    each time another writer wins a race, so whatever it records besides its
    result must be reset on every call; exceptions it raises propagate.
    """
    for attempt in range(_TRIES):
        current = yield from store_call(adapter, Adapter.get_credential, id)
        data = change(current)
        if data is None:
            return current
        if current is None:
            try:
                return (
                    yield from store_call(
                        adapter,
                        Adapter.create_credential,
                        Credential(id=id, user_id=user_id, type=type, data=data),
                    )
                )
            except ConflictError:
                pass
        else:
            updated = yield from store_call(
                adapter, Adapter.update_credential, id, data, expected_version=current.version
            )
            if updated is not None:
                return updated
        # Lost a race: someone else wrote in between. Back off a little so a
        # crowd of writers does not keep colliding in lockstep.
        yield from sleep(random.uniform(0, 0.001 * min(attempt + 1, 20)))
    raise StorageError(f"credential {id!r} kept changing under concurrent writers; try again")
