"""One line naming the extra to install, for modules whose dependencies are optional."""

from __future__ import annotations

__all__ = ["missing_extra"]


def missing_extra(exc: ModuleNotFoundError, module: str, extra: str) -> ImportError:
    """The ``ImportError`` to raise (``from exc``) when ``module`` lacks an optional package."""
    package = (exc.name or "?").partition(".")[0]
    return ImportError(
        f"{module} needs the {package} package: pip install 'auth-store[{extra}]'", name=package
    )
