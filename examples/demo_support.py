"""What the Flask and FastAPI example apps share: setup, QR codes, page texts.

Neither app needs configuration to start: without ``AUTH_STORE_SECRET`` and
``AUTH_STORE_KEYS`` in the environment, a signing secret and an encryption
key are generated once and kept (mode 0600) in the demo's data folder, so
sessions and encrypted TOTP secrets survive a restart. Mail goes to
``<data folder>/outbox`` and to the console, through a ``BackgroundMailer``
as a deployment's would: no request waits for it, and a request for a link
takes as long for an unknown address as for a known one. A real deployment
sets the two variables and passes its own ``Mailer`` (``AuthFlow`` puts it
behind a ``BackgroundMailer`` too).

Passkeys are on when the site's address can have them: ``https://``, or
``http://localhost`` (the demos print a localhost URL). Their RP id is the
host of ``base_url`` and their one origin ``base_url`` itself.

Hardening both demos share: every response carries ``SECURITY_HEADERS`` (a
CSP with no inline script or style, no framing, ``nosniff``, no referrer: the
links in mail carry tokens); pages that show a secret (a TOTP key, backup
codes, a revealed API key) add ``Cache-Control: no-store``; cookies are
``Secure`` when ``DEMO_SECURE_COOKIES`` says so, by default when ``base_url``
is ``https://``; ``DEMO_TRUSTED_PROXIES`` names the proxies whose
``X-Forwarded-For`` is believed for the sessions page; the ``/outbox`` page, a
development tool, exists only while the demo runs on localhost.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import qrcode
import qrcode.image.svg

from auth_store.crypto import KEY_FILE_ENV, KEYS_ENV, Keyring
from auth_store.devices import describe_device
from auth_store.errors import ConfigurationError, as_sentence
from auth_store.flow import AuthFlowCore
from auth_store.mail import BackgroundMailer, Mailer, Message, OutboxMailer
from auth_store.models import Session
from auth_store.oauth import OAuthProvider
from auth_store.signing import SECRET_ENV, Signer, secret_keys

F = TypeVar("F", bound=AuthFlowCore[Any])

__all__ = [
    "NOTICES",
    "NO_STORE",
    "SECURITY_HEADERS",
    "STATIC",
    "TEMPLATES",
    "Demo",
    "build_demo",
    "cookies_secure_by_default",
    "error_texts",
    "qr_data_uri",
    "session_rows",
    "trusted_proxies",
]

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
APP_NAME = "auth-store demo"

#: On every response. No inline script or style anywhere (the passkey script and
#: the styles are files); ``data:`` images for the QR code.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Links in mail carry tokens in their query: never send them to anyone else.
    "Referrer-Policy": "no-referrer",
}
#: On pages that show a secret: no copy in a browser's or proxy's cache.
NO_STORE = {"Cache-Control": "no-store"}

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_YES = frozenset({"1", "true", "yes", "on"})
_NO = frozenset({"0", "false", "no", "off"})


def is_local(base_url: str) -> bool:
    """Whether the demo runs on this machine only (``localhost``, a loopback address)."""
    host = (urlsplit(base_url).hostname or "").lower()
    return host in _LOCAL_HOSTS or host.endswith(".localhost")


def cookies_secure_by_default(base_url: str) -> bool:
    """``DEMO_SECURE_COOKIES`` (on/off), else on exactly when ``base_url`` is https."""
    value = os.environ.get("DEMO_SECURE_COOKIES", "").strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    if value:
        raise ConfigurationError("DEMO_SECURE_COOKIES must be on or off (1/0, true/false)")
    return urlsplit(base_url).scheme == "https"


def trusted_proxies() -> str | None:
    """``DEMO_TRUSTED_PROXIES``: addresses or networks, comma-separated (default: none)."""
    return os.environ.get("DEMO_TRUSTED_PROXIES") or None


#: Headings and texts of the error pages, by status.
_ERROR_HEADINGS = {
    400: "This request did not work",
    401: "Please sign in",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    409: "That clashes with something",
    429: "Too many attempts",
    500: "Something went wrong",
}


def error_texts(status: int, message: str) -> tuple[str, str]:
    """The heading and text of the error page for ``status``."""
    heading = _ERROR_HEADINGS.get(status, "Something went wrong" if status >= 500 else "Error")
    if status == 404:
        message = "There is no page at this address. Check the link, or start again."
    return heading, as_sentence(message)


def session_rows(
    flow: AuthFlowCore[Any], sessions: list[Session], token: str | None
) -> list[dict[str, object]]:
    """The sessions page's rows (from ``flow.sessions.list``): device, address, signed in,
    last seen, current or not."""
    return [
        {
            "id": s.id,
            "current": flow.sessions.is_current(s, token),
            "device": describe_device(s.user_agent),
            "user_agent": s.user_agent,
            "ip_address": s.ip_address,
            "created_at": s.created_at,
            "last_seen": s.updated_at,
            "expires": s.expires,
        }
        for s in sessions
    ]


#: Short notices shown after a redirect (``?notice=<key>``): fixed texts, never echoed input.
NOTICES = {
    "signed_out": "You are signed out.",
    "totp_on": "Two-step sign-in is on. Keep your backup codes somewhere safe.",
    "totp_off": "Two-step sign-in is off.",
    "password_changed": "Your password was changed. Other sessions were signed out.",
    "password_reset": "Your password was reset. Sign in with the new one.",
    "session_revoked": "The session was signed out.",
    "sessions_revoked": "Every other session was signed out.",
    "key_added": "The API key was stored, encrypted.",
    "key_deleted": "The API key was deleted.",
    "verification_sent": "We sent you a new verification link.",
    "passkey_added": "The passkey was added: you can sign in with it now.",
    "passkey_renamed": "The passkey was renamed.",
    "passkey_deleted": "The passkey was deleted.",
}

#: Errors shown on the sign-in page after an OAuth round trip (``?error=<key>``).
ERRORS = {
    "oauth_failed": "Signing in with the provider did not work. Please try again.",
    "oauth_not_linked": (
        "An account already uses this e-mail address. Sign in the way you usually do; "
        "you can connect the provider afterwards."
    ),
}


@dataclass(frozen=True)
class Demo(Generic[F]):
    """A configured flow plus the bits the example pages show."""

    flow: F
    outbox: OutboxMailer | None
    providers: tuple[OAuthProvider, ...] = ()
    #: Why passkeys are off (``None`` when they are on).
    passkeys_off: str | None = None
    #: Whether the /outbox page exists (a development tool: on localhost only).
    outbox_page: bool = False

    def outbox_messages(self) -> list[Message]:
        """The outbox page's messages, newest last, once the mail queued so far is out."""
        if self.outbox is None:
            return []
        if isinstance(self.flow.mailer, BackgroundMailer):
            self.flow.mailer.flush(timeout=10)
        return self.outbox.messages()


def _kept_secret(path: Path, make: str) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(make + "\n")
    return make


def build_demo(
    store: Any,
    *,
    flow_class: type[F],
    base_url: str,
    data_dir: str | Path,
    mailer: Mailer | None = None,
    providers: Sequence[OAuthProvider] = (),
) -> Demo[F]:
    """The flow the example apps run on ``store``, configured from the environment or files.

    ``flow_class`` is ``auth_store.flow.AuthFlow`` on a sync store (Flask), or
    ``auth_store.aio.AuthFlow`` on an async one (FastAPI).
    """
    data = Path(data_dir)
    secret_file = data / "secret.txt"
    if not os.environ.get(SECRET_ENV, "").strip():
        _kept_secret(secret_file, Signer.generate())  # made once, on the first start
    # Found as `auth-store links issue` and examples/issue_magic_link.py find it.
    signer = Signer(secret_keys(file=secret_file))
    if os.environ.get(KEYS_ENV, "").strip() or os.environ.get(KEY_FILE_ENV, "").strip():
        keyring = Keyring.from_env()
    else:
        keyring = Keyring.parse(_kept_secret(data / "keys.txt", Keyring.generate_key()))
    outbox: OutboxMailer | None
    if mailer is None:
        outbox = OutboxMailer(data / "outbox")
        mailer = BackgroundMailer(outbox)
    else:
        outbox = mailer if isinstance(mailer, OutboxMailer) else None
    flow = flow_class(
        store,
        signer=signer,
        keyring=keyring,
        mailer=mailer,
        base_url=base_url,
        app_name=APP_NAME,
    )
    return Demo(
        flow=flow,
        outbox=outbox,
        providers=tuple(providers),
        passkeys_off=_enable_passkeys(flow, base_url),
        outbox_page=outbox is not None and is_local(base_url),
    )


def _enable_passkeys(flow: AuthFlowCore[Any], base_url: str) -> str | None:
    """Turn passkeys on for ``base_url``'s host; say why not when it can't have them."""
    parts = urlsplit(base_url)
    try:
        flow.enable_passkeys(
            rp_id=parts.hostname or "", origins=[f"{parts.scheme}://{parts.netloc}"]
        )
    except ConfigurationError:
        return "Passkeys need https:// or http://localhost: open the demo on localhost."
    except ImportError as exc:
        return str(exc)
    return None


def qr_data_uri(text: str) -> str:
    """An SVG QR code of ``text`` as a ``data:`` URI for an ``<img src>``."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    svg: bytes = image.to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
