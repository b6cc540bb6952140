"""Sign in with an OAuth 2.0 / OpenID Connect provider, through ``authlib``.

``OAuthService.begin`` makes the provider's authorization URL (with ``state``,
PKCE and, for OpenID Connect, a ``nonce``) and a signed value to keep in a
short-lived cookie; ``OAuthService.finish`` checks that value against the
callback, exchanges the code, validates the ID token (signature from the
provider's JWKS, issuer, audience and authorized party, expiry, nonce) or
reads the userinfo endpoint, then signs the person in:

- a provider account already linked signs its user in, and the stored
  provider tokens are replaced by the new ones;
- when someone is signed in already, the provider account is linked to them;
- otherwise a new user is created, unless an account already uses the
  e-mail address: that account is linked only if the provider says the
  address is verified *and* the provider was configured with
  ``allow_email_linking=True`` (Auth.js's ``allowDangerousEmailAccountLinking``).
  Without both, ``AccountNotLinkedError``: the person signs in the usual way
  and links the provider from there.

Provider tokens are stored on the ``Account`` (``Account.from_token``); when
the flow has a keyring, ``access_token``, ``refresh_token`` and ``id_token``
are encrypted, bound to the account row. A user with TOTP on still passes
the second step after an OAuth sign-in.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from ._extras import missing_extra

try:
    import httpx
    import requests
    from authlib.common.errors import AuthlibBaseError
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.integrations.requests_client import OAuth2Session
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet
except ModuleNotFoundError as exc:  # pragma: no cover - tested in a subprocess
    raise missing_extra(exc, "auth_store.oauth", "oauth") from exc
try:
    # authlib's async client runs on httpx2 when it is installed, else on httpx.
    import httpx2

    _ASYNC_CLIENT_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, httpx2.HTTPError)
except ModuleNotFoundError:  # pragma: no cover - httpx2 comes with the fastapi extra
    _ASYNC_CLIENT_ERRORS = (httpx.HTTPError,)

from . import clock
from ._twins import Steps, StoreT, Twin, call, twin
from .adapter import Adapter
from .crypto import is_envelope
from .errors import ConfigurationError, ConflictError, ErrorCode
from .flow import AuthFlowCore, FlowError, SignInResult
from .models import ACCOUNT_TOKEN_FIELDS, Account, User
from .sessions import SessionClient
from .signing import InvalidSignatureError
from .validation import new_id

__all__ = [
    "AccountNotLinkedError",
    "OAuthError",
    "OAuthProvider",
    "OAuthService",
    "OAuthServiceCore",
    "OAuthStart",
    "Profile",
    "ProviderTokens",
]

#: What a failed exchange with the provider raises, by either twin's HTTP client.
_HTTP_ERRORS = (
    AuthlibBaseError,
    requests.RequestException,
    *_ASYNC_CLIENT_ERRORS,
    ValueError,
)
_ENCRYPTED_FIELDS = ("access_token", "refresh_token", "id_token")
_STATE_PURPOSE = "oauth-state"
#: What a provider's failure looks like on our side: its OAuth error answers
#: (``invalid_grant`` for an expired, replayed or bogus code), a network error or
#: an HTTP error status (either twin's HTTP client), and replies of the wrong
#: shape (not JSON, a list where an object belongs, a field missing or of the
#: wrong type).
_PROVIDER_FAILURES = (*_HTTP_ERRORS, KeyError, TypeError, AttributeError)
# Asymmetric only: an ID token is verified with the provider's public keys.
_ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]


def _issued_to(client_id: str, claims: Mapping[str, Any]) -> bool:
    """Whether an ID token whose ``aud`` names us was issued to us (OIDC Core 3.1.3.7).

    A token for several audiences must say which party it was issued to
    (``azp``), and when ``azp`` is there it must be us: otherwise another
    client that the same person signed in to could replay its token here.
    """
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    party = claims.get("azp")
    if party is not None:
        return bool(party == client_id)
    return all(value == client_id for value in audiences)


class OAuthError(FlowError):
    """The provider round trip failed; the message is safe to show."""

    code = ErrorCode.OAUTH_FAILED


class AccountNotLinkedError(OAuthError):
    """The provider's e-mail belongs to an account this provider may not sign into."""

    code = ErrorCode.OAUTH_ACCOUNT_NOT_LINKED


@dataclass(frozen=True, kw_only=True)
class Profile:
    """Who the provider says the person is."""

    id: str
    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    image: str | None = None


def oidc_profile(claims: Mapping[str, Any]) -> Profile:
    """A ``Profile`` from standard OpenID Connect claims (``sub``, ``email``, ...)."""
    return Profile(
        id=str(claims["sub"]),
        email=claims.get("email") or None,
        email_verified=claims.get("email_verified") is True,
        name=claims.get("name") or None,
        image=claims.get("picture") or None,
    )


def github_profile(data: Mapping[str, Any]) -> Profile:
    """A ``Profile`` from GitHub's ``/user``; its e-mail is not treated as verified."""
    return Profile(
        id=str(data["id"]),
        email=data.get("email") or None,
        name=data.get("name") or data.get("login") or None,
        image=data.get("avatar_url") or None,
    )


@dataclass(frozen=True, kw_only=True)
class OAuthProvider:
    """One provider's client configuration.

    Give ``server_metadata_url`` (OpenID Connect discovery) or the endpoints.
    ``profile`` maps the ID-token claims (OIDC) or the userinfo response
    (plain OAuth 2.0) to a ``Profile``.
    """

    name: str
    client_id: str
    client_secret: str = field(repr=False)
    server_metadata_url: str | None = None
    authorize_url: str | None = None
    token_url: str | None = None
    userinfo_url: str | None = None
    jwks_uri: str | None = None
    issuer: str | None = None
    scope: str = "openid email profile"
    allow_email_linking: bool = False
    profile: Callable[[Mapping[str, Any]], Profile] = oidc_profile

    @property
    def is_oidc(self) -> bool:
        """Whether the provider is used as OpenID Connect (``openid`` in the scope)."""
        return "openid" in self.scope.split()

    @classmethod
    def google(cls, client_id: str, client_secret: str, **options: Any) -> OAuthProvider:
        """Google, by OpenID Connect discovery."""
        return cls(
            name="google",
            client_id=client_id,
            client_secret=client_secret,
            server_metadata_url="https://accounts.google.com/.well-known/openid-configuration",
            **options,
        )

    @classmethod
    def github(cls, client_id: str, client_secret: str, **options: Any) -> OAuthProvider:
        """GitHub (plain OAuth 2.0: the profile comes from ``/user``)."""
        return cls(
            name="github",
            client_id=client_id,
            client_secret=client_secret,
            authorize_url="https://github.com/login/oauth/authorize",
            token_url="https://github.com/login/oauth/access_token",  # noqa: S106 - a URL
            userinfo_url="https://api.github.com/user",
            scope="read:user user:email",
            profile=github_profile,
            **options,
        )


@dataclass(frozen=True, kw_only=True)
class OAuthStart:
    """Where to send the browser, and the value to keep in the state cookie meanwhile."""

    url: str
    state_cookie: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class ProviderTokens:
    """A linked account's provider tokens, decrypted."""

    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    expires_at: int | None = None


class OAuthServiceCore(Twin[StoreT]):
    """OAuth / OpenID Connect sign-in for an ``AuthFlow``.

    The sync twin talks to providers with authlib's ``requests`` client, the
    async twin (``auth_store.aio.OAuthService``) with its ``httpx`` async one.
    """

    state_max_age = timedelta(minutes=10)

    def __init__(
        self,
        flow: AuthFlowCore[StoreT],
        providers: Iterable[OAuthProvider],
        *,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(flow.adapter)
        self.flow = flow
        self.providers = {p.name: p for p in providers}
        self.timeout = timeout
        self._metadata: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(providers={sorted(self.providers)!r})"

    def provider(self, name: str) -> OAuthProvider:
        """The provider called ``name`` (``OAuthError`` if there is none)."""
        try:
            return self.providers[name]
        except KeyError:
            raise OAuthError("Unknown sign-in provider.") from None

    # -- the round trip --------------------------------------------------------

    @twin
    def begin(
        self, name: str, redirect_uri: str, *, next_url: str | None = None
    ) -> Steps[OAuthStart]:
        """The authorization URL for ``name`` and the state cookie value to set."""
        provider = self.provider(name)
        endpoints = yield from self._endpoints(provider)
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(32) if provider.is_oidc else None
        extra = {"nonce": nonce} if nonce else {}
        client = self._client(provider, redirect_uri)
        try:
            url, _ = client.create_authorization_url(
                endpoints["authorization_endpoint"], state=state, code_verifier=verifier, **extra
            )
        finally:
            yield from self._close(client)
        cookie = self.flow.signer.dumps(
            {"p": name, "s": state, "v": verifier, "n": nonce, "r": redirect_uri, "x": next_url},
            purpose=_STATE_PURPOSE,
        )
        return OAuthStart(url=url, state_cookie=cookie)

    def next_url(self, state_cookie: str | None) -> str | None:
        """The ``next_url`` given to ``begin``, read back from the state cookie."""
        try:
            data = self._state(state_cookie)
        except OAuthError:
            return None
        value = data.get("x")
        return value if isinstance(value, str) else None

    @twin
    def finish(
        self,
        name: str,
        params: Mapping[str, str],
        state_cookie: str | None,
        *,
        current_user: User | None = None,
        previous_token: str | None = None,
        client: SessionClient | None = None,
    ) -> Steps[SignInResult]:
        """Handle the provider's redirect back (its query ``params``) and sign in."""
        provider = self.provider(name)
        data = self._state(state_cookie)
        given_state = params.get("state") or ""
        if data.get("p") != name or not hmac.compare_digest(str(data.get("s")), given_state):
            raise OAuthError("The sign-in could not be verified. Please try again.")
        if params.get("error"):
            raise OAuthError("The provider did not allow the sign-in.")
        code = params.get("code")
        if not code:
            raise OAuthError("The provider sent no authorization code.")
        endpoints = yield from self._endpoints(provider)
        http = self._client(provider, str(data.get("r")))
        try:
            fetched = yield from call(
                http.fetch_token,
                endpoints["token_endpoint"],
                code=code,
                code_verifier=data.get("v"),
                timeout=self.timeout,
            )
            token = dict(fetched)
            claims = yield from self._profile_data(provider, endpoints, token, data.get("n"), http)
        except _PROVIDER_FAILURES as exc:
            raise OAuthError("The provider could not complete the sign-in.") from exc
        finally:
            yield from self._close(http)
        try:
            profile = provider.profile(claims)
        except (KeyError, TypeError, ValueError) as exc:
            raise OAuthError("The provider's answer was incomplete.") from exc
        return (
            yield from self.sign_in_with_profile.steps(
                provider,
                profile,
                token,
                current_user=current_user,
                previous_token=previous_token,
                client=client,
            )
        )

    @twin
    def sign_in_with_profile(
        self,
        provider: OAuthProvider,
        profile: Profile,
        token: Mapping[str, Any],
        *,
        current_user: User | None = None,
        previous_token: str | None = None,
        client: SessionClient | None = None,
    ) -> Steps[SignInResult]:
        """Sign in (or link, or create) the user for a provider profile; store the tokens."""
        account = yield from self._store(Adapter.get_account, provider.name, profile.id)
        if account is not None:
            if current_user is not None and account.user_id != current_user.id:
                raise OAuthError(f"This {provider.name} account is linked to another user.")
            user = yield from self._store(Adapter.get_user, account.user_id)
            if user is None:
                raise OAuthError("The sign-in could not be completed.")
            yield from self._replace_tokens(account, token)
        elif current_user is not None:
            user = current_user
            yield from self._link(provider, profile, token, user)
        else:
            user = yield from self._user_for_new_account(provider, profile)
            yield from self._link(provider, profile, token, user)
        return (
            yield from self.flow.sign_in_user.steps(
                user, previous_token=previous_token, client=client
            )
        )

    # -- stored tokens ---------------------------------------------------------

    def tokens(self, account: Account) -> ProviderTokens:
        """The provider tokens of a linked account, decrypted."""
        values = {name: self._decrypt(account, name) for name in _ENCRYPTED_FIELDS}
        return ProviderTokens(expires_at=account.expires_at, **values)

    @twin
    def refresh(self, account: Account) -> Steps[Account]:
        """Use the stored refresh token for new provider tokens; store and return them."""
        provider = self.provider(account.provider)
        refresh_token = self._decrypt(account, "refresh_token")
        if not refresh_token:
            raise OAuthError("This account has no refresh token.")
        endpoints = yield from self._endpoints(provider)
        client = self._client(provider, None)
        try:
            refreshed = yield from call(
                client.refresh_token,
                endpoints["token_endpoint"],
                refresh_token=refresh_token,
                timeout=self.timeout,
            )
        except _PROVIDER_FAILURES as exc:
            raise OAuthError("The provider did not refresh the tokens.") from exc
        finally:
            yield from self._close(client)
        return (yield from self._replace_tokens(account, dict(refreshed)))

    # -- internals -----------------------------------------------------------

    def _client(self, provider: OAuthProvider, redirect_uri: str | None) -> OAuth2Session:
        """The HTTP client of this twin: authlib's ``requests`` session, or its ``httpx``
        async client (same methods, as coroutines: ``call`` awaits them)."""
        client_class = OAuth2Session if self._kind == "sync" else AsyncOAuth2Client
        client: OAuth2Session = client_class(
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            scope=provider.scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )
        return client

    @staticmethod
    def _close(client: OAuth2Session) -> Steps[None]:
        close = getattr(client, "aclose", None) or client.close  # httpx's, or requests'
        yield from call(close)

    def _get(self, client: OAuth2Session, url: str, *, with_token: bool = False) -> Steps[Any]:
        """``GET url`` with ``client`` (sending its token only ``with_token``): the response."""
        response = yield from call(
            client.request, "GET", url, timeout=self.timeout, withhold_token=not with_token
        )
        response.raise_for_status()
        return response

    def _state(self, state_cookie: str | None) -> dict[str, Any]:
        if not state_cookie:
            raise OAuthError("The sign-in expired or was started elsewhere. Please try again.")
        try:
            data = self.flow.signer.loads(
                state_cookie, purpose=_STATE_PURPOSE, max_age=self.state_max_age
            )
        except InvalidSignatureError:
            raise OAuthError(
                "The sign-in expired or was started elsewhere. Please try again."
            ) from None
        if not isinstance(data, dict):
            raise OAuthError("The sign-in could not be verified. Please try again.")
        return data

    def _endpoints(self, provider: OAuthProvider) -> Steps[dict[str, Any]]:
        with self._lock:
            cached = self._metadata.get(provider.name)
        if cached is not None:
            return cached
        endpoints: dict[str, Any] = {}
        if provider.server_metadata_url:
            client = self._client(provider, None)
            try:
                response = yield from self._get(client, provider.server_metadata_url)
                endpoints.update(response.json())
            except _HTTP_ERRORS as exc:
                raise OAuthError("The provider could not be reached.") from exc
            finally:
                yield from self._close(client)
        explicit = {
            "authorization_endpoint": provider.authorize_url,
            "token_endpoint": provider.token_url,
            "userinfo_endpoint": provider.userinfo_url,
            "jwks_uri": provider.jwks_uri,
            "issuer": provider.issuer,
        }
        endpoints.update({k: v for k, v in explicit.items() if v})
        for needed in ("authorization_endpoint", "token_endpoint"):
            if not endpoints.get(needed):
                raise ConfigurationError(f"OAuth provider {provider.name!r} has no {needed}")
        if provider.is_oidc and not endpoints.get("jwks_uri"):
            raise ConfigurationError(f"OpenID provider {provider.name!r} has no jwks_uri")
        with self._lock:
            self._metadata[provider.name] = endpoints
        return endpoints

    def _profile_data(
        self,
        provider: OAuthProvider,
        endpoints: Mapping[str, Any],
        token: Mapping[str, Any],
        nonce: object,
        client: OAuth2Session,
    ) -> Steps[dict[str, Any]]:
        if provider.is_oidc:
            id_token = token.get("id_token")
            if not isinstance(id_token, str):
                raise OAuthError("The provider sent no ID token.")
            jwks = yield from self._get(client, endpoints["jwks_uri"])
            return self._validate_id_token(provider, endpoints, id_token, nonce, jwks.json())
        if not endpoints.get("userinfo_endpoint"):
            raise ConfigurationError(f"OAuth provider {provider.name!r} has no userinfo_endpoint")
        response = yield from self._get(client, endpoints["userinfo_endpoint"], with_token=True)
        data = response.json()
        if not isinstance(data, dict):
            raise OAuthError("The provider's answer was incomplete.")
        return data

    def _validate_id_token(
        self,
        provider: OAuthProvider,
        endpoints: Mapping[str, Any],
        id_token: str,
        nonce: object,
        jwks: Any,
    ) -> dict[str, Any]:
        try:
            keys = KeySet.import_key_set(jwks)
            decoded = jwt.decode(id_token, keys, algorithms=_ID_TOKEN_ALGORITHMS)
            expected: dict[str, Any] = {
                "sub": {"essential": True},
                "aud": {"essential": True, "value": provider.client_id},
                "exp": {"essential": True},
                "nonce": {"essential": True, "value": nonce},
            }
            if endpoints.get("issuer"):
                expected["iss"] = {"essential": True, "value": endpoints["issuer"]}
            registry = jwt.JWTClaimsRegistry(
                now=int(clock.now().timestamp()), leeway=60, **expected
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise OAuthError("The provider's ID token is not valid.") from exc
        if not _issued_to(provider.client_id, decoded.claims):
            raise OAuthError("The provider's ID token is not valid.")
        return dict(decoded.claims)

    def _user_for_new_account(self, provider: OAuthProvider, profile: Profile) -> Steps[User]:
        if not profile.email:
            raise OAuthError(f"{provider.name} did not share an e-mail address.")
        existing = yield from self._store(Adapter.get_user_by_email, profile.email)
        if existing is not None:
            if provider.allow_email_linking and profile.email_verified:
                return (yield from self.flow.mark_email_verified.steps(existing))
            raise AccountNotLinkedError(
                "An account already uses this e-mail address. Sign in the way you usually "
                f"do, then connect {provider.name} from your account page."
            )
        try:
            return (
                yield from self._store(
                    Adapter.create_user,
                    User(
                        email=profile.email,
                        email_verified=clock.now() if profile.email_verified else None,
                        name=profile.name,
                        image=profile.image,
                    ),
                )
            )
        except ConflictError:
            raise OAuthError("The sign-in could not be completed. Please try again.") from None

    def _link(
        self,
        provider: OAuthProvider,
        profile: Profile,
        token: Mapping[str, Any],
        user: User,
    ) -> Steps[Account]:
        account = Account.from_token(
            user_id=user.id,
            type="oidc" if provider.is_oidc else "oauth",
            provider=provider.name,
            provider_account_id=profile.id,
            token=dict(token),
        )
        account = self._encrypted(replace(account, id=new_id()))
        try:
            return (yield from self._store(Adapter.link_account, account))
        except ConflictError:
            raise OAuthError(f"This {provider.name} account is linked to another user.") from None

    def _replace_tokens(self, account: Account, token: Mapping[str, Any]) -> Steps[Account]:
        fresh = Account.from_token(
            user_id=account.user_id,
            type=account.type,
            provider=account.provider,
            provider_account_id=account.provider_account_id,
            token=dict(token),
        )
        if fresh.refresh_token is None:  # providers often send one only the first time
            fresh = replace(fresh, refresh_token=self._decrypt(account, "refresh_token"))
        updated = self._encrypted(replace(fresh, id=account.id))
        # One atomic write: no moment without the account, nothing half-replaced.
        stored = yield from self._update(
            Adapter.update_account,
            account.provider,
            account.provider_account_id,
            extra=updated.extra,
            **{name: getattr(updated, name) for name in ACCOUNT_TOKEN_FIELDS},
        )
        if stored is None:  # unlinked meanwhile
            raise OAuthError("This account is no longer linked.")
        return stored

    def _encrypted(self, account: Account) -> Account:
        cipher = self.flow.cipher
        if cipher is None:
            return account
        changes: dict[str, Any] = {
            name: cipher.encrypt(value, collection="accounts", record_id=account.id, field=name)
            for name in _ENCRYPTED_FIELDS
            if isinstance(value := getattr(account, name), str)
        }
        return replace(account, **changes)

    def _decrypt(self, account: Account, name: str) -> str | None:
        value = getattr(account, name)
        if not isinstance(value, str) or not is_envelope(value):
            return value if isinstance(value, str) else None
        cipher = self.flow.cipher
        if cipher is None:
            raise ConfigurationError("the account's tokens are encrypted: configure the keyring")
        return cipher.decrypt_str(value, collection="accounts", record_id=account.id, field=name)


class OAuthService(OAuthServiceCore[Adapter]):
    """OAuth sign-in on a sync ``AuthFlow`` (``auth_store.aio.OAuthService`` is the async twin)."""
