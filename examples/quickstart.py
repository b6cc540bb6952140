"""A first look at auth-store on the embedded default store (SQLite, ./auth_store.db).

Creates a user, links an OAuth account, opens a session and reads it back the way
a web app does on every request.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import auth_store
from auth_store import Account, Session, User
from auth_store.clock import now


def main() -> None:
    """Create a user, link an account, open a session, read it back and print what is stored."""
    with auth_store.connect() as store:
        email = f"demo-{secrets.token_hex(3)}@example.com"
        user = store.create_user(User(email=email, name="Demo User", extra={"role": "admin"}))
        store.link_account(
            Account.from_token(
                user_id=user.id,
                type="oidc",
                provider="github",
                provider_account_id=secrets.token_hex(4),
                token={"access_token": secrets.token_urlsafe(16), "token_type": "bearer"},
            )
        )
        token = secrets.token_urlsafe(32)
        store.create_session(
            Session(session_token=token, user_id=user.id, expires=now() + timedelta(days=30))
        )
        found = store.get_session_and_user(token)
        assert found is not None
        session, same_user = found
        print(f"store:   {store.health()['backend']}")
        print(f"user:    {same_user.email} ({same_user.id}), extra={same_user.extra}")
        print(f"session: expires {session.expires:%Y-%m-%d %H:%M} UTC")
        print(f"counts:  {store.counts()}")


if __name__ == "__main__":
    main()
