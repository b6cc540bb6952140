"""The former name of ``auth_store.disabled`` (the disabled-user rules), kept as an alias."""

from __future__ import annotations

from .disabled import DISABLED, DISABLED_AT, disabled_extra, enabled_extra, is_disabled

__all__ = ["DISABLED", "DISABLED_AT", "disabled_extra", "enabled_extra", "is_disabled"]
