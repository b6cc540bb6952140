"""Issue a magic sign-in link for an e-mail address and print it.

For support staff, or to let someone in before mail is set up::

    python examples/issue_magic_link.py ann@example.com
    python examples/issue_magic_link.py ann@example.com --base-url https://app.example \\
        --store sqlite:///./auth_store.db --valid-minutes 30

The token is stored exactly as the sign-in flow (and Auth.js) stores it, so
the link works in the example apps, in any app built on ``AuthFlow`` with the
same secret, and in an Auth.js app on the same database with that
``AUTH_SECRET``. The secret is found as ``auth-store links issue`` finds it
(``auth_store.signing.secret_keys``): ``AUTH_STORE_SECRET``, else the demo's
``.auth-store-demo/secret.txt``. The store must exist: a mistyped ``--store``
is an error, not a new store. The link is a credential: send it only to the
address it names.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

import auth_store
from auth_store.flow import FlowPaths
from auth_store.signing import secret_keys
from auth_store.tokens import TokenPurpose, TokenService


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, issue the link, print it; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("email", help="who may sign in with the link")
    parser.add_argument("--base-url", default="http://localhost:8000", help="the app's address")
    parser.add_argument("--store", default=None, help="store URL (default: AUTH_STORE_URL)")
    parser.add_argument("--data-dir", default=".auth-store-demo", help="the demo's data folder")
    parser.add_argument("--valid-minutes", type=int, default=None, help="default: 24 hours")
    args = parser.parse_args(argv)
    try:
        secrets_ = secret_keys(file=Path(args.data_dir) / "secret.txt")
        with auth_store.connect(args.store, create=False) as store:
            max_age = timedelta(minutes=args.valid_minutes) if args.valid_minutes else None
            issued = TokenService(store, secrets_).issue(
                args.email, TokenPurpose.SIGN_IN, max_age=max_age
            )
    except auth_store.AuthStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(issued.link(args.base_url.rstrip("/") + FlowPaths.magic_link))
    print(f"valid once, until {issued.expires:%Y-%m-%d %H:%M} UTC", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
