"""The OAuth routes: a provider's login redirect and its callback (needs ``authlib``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse

from ...aio import OAuthService
from ...flow import FlowError
from ...oauth import AccountNotLinkedError
from ..common import safe_next
from ._auth import RequestAuth

__all__ = ["add_oauth_routes"]


def add_oauth_routes(router: APIRouter, auth: RequestAuth, oauth: OAuthService) -> None:
    """``/oauth/{provider}/login`` and ``/oauth/{provider}/callback``."""
    pages = auth.pages

    def callback_url(provider: str) -> str:
        return f"{auth.flow.base_url}{auth.prefix}/oauth/{provider}/callback"

    @router.get("/oauth/{provider}/login", summary="Start signing in with a provider")
    async def oauth_login(
        request: Request, provider: str, next: str | None = None
    ) -> RedirectResponse:
        start = await oauth.begin(provider, callback_url(provider), next_url=safe_next(next))
        seconds = int(oauth.state_max_age.total_seconds())
        auth.set_cookie(request, auth.cookies.oauth_state, start.state_cookie, seconds)
        return RedirectResponse(start.url, status_code=status.HTTP_302_FOUND)

    @router.get("/oauth/{provider}/callback", summary="The provider's redirect back")
    async def oauth_callback(request: Request, provider: str) -> RedirectResponse:
        state_cookie = request.cookies.get(auth.cookies.oauth_state)
        auth.delete_cookie(request, auth.cookies.oauth_state)
        try:
            result = await oauth.finish(
                provider,
                dict(request.query_params),
                state_cookie,
                current_user=await auth.load(request),
                previous_token=await auth.session_token(request),
                client=auth.client(request),
            )
        except AccountNotLinkedError:
            return RedirectResponse(f"{pages.sign_in}?error=oauth_not_linked", status_code=302)
        except FlowError:
            return RedirectResponse(f"{pages.sign_in}?error=oauth_failed", status_code=302)
        if not auth.apply(request, result):
            return RedirectResponse(pages.second_step, status_code=302)
        target = safe_next(oauth.next_url(state_cookie), pages.after_sign_in)
        return RedirectResponse(target, status_code=302)
