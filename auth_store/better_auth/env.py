"""The Better Auth app's secret, read from the environment as Better Auth reads it."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..errors import ConfigurationError

__all__ = ["secret_from_env"]


def secret_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """The app's secrets, current first: what Better Auth signs its cookies with.

    ``BETTER_AUTH_SECRETS`` (``"2:new,1:old"``: versioned, the first is
    current), else ``BETTER_AUTH_SECRET``, else ``AUTH_SECRET``.
    ``ConfigurationError`` when none is set.
    """
    env = os.environ if environ is None else environ
    versioned = env.get("BETTER_AUTH_SECRETS")
    if versioned:
        found = []
        for entry in versioned.split(","):
            _, colon, value = entry.strip().partition(":")
            if not colon or not value:
                raise ConfigurationError(
                    'BETTER_AUTH_SECRETS must look like "2:new-secret,1:old-secret"'
                )
            found.append(value)
        return found
    for name in ("BETTER_AUTH_SECRET", "AUTH_SECRET"):
        if env.get(name):
            return [env[name]]
    raise ConfigurationError("BETTER_AUTH_SECRET is not set (the Better Auth app's secret)")
