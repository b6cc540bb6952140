"""Flask: the passkey endpoints, as a blueprint on top of ``FlaskAuth``.

::

    flow.enable_passkeys(rp_id="example.com", origins=["https://example.com"])
    auth = FlaskAuth(app, flow=flow)
    app.register_blueprint(passkeys_blueprint())      # /auth/passkeys/..., /auth/passkeys.js

The same endpoints, bodies, answers and cookies as the FastAPI router's
(``auth_store.integrations.passkey_web`` holds what they share): JSON in
(``application/json``, 415 otherwise), JSON out, errors as
``{"detail", "code"}`` with the status of the shared map. ``FlaskAuth``
checks the CSRF token of every unsafe request (send it as ``X-CSRF-Token``).
Each view reads its body, calls the flow or ``flow.passkeys`` and moves a
cookie; every decision is the flow's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._extras import missing_extra

try:
    from flask import Blueprint, abort, jsonify, request, send_file
    from werkzeug.exceptions import HTTPException
    from werkzeug.wrappers import Response
except ModuleNotFoundError as exc:  # pragma: no cover - tested in a subprocess
    raise missing_extra(exc, "auth_store.integrations.flask_passkeys", "flask") from exc

from ..errors import AuthStoreError
from ..flow import Messages, NotSignedInError
from ..models import User
from .errors import http_error
from .flask import FlaskAuth, get_auth, get_current_user
from .passkey_web import (
    MAX_BODY_BYTES,
    SCRIPT,
    challenge_cookie,
    is_conditional,
    passkey_json,
    reauthenticated_json,
    reauthentication_request,
    registration_options_request,
    rename_request,
    sign_in_json,
    sign_in_options_request,
)

if TYPE_CHECKING:
    from ..passkeys import PasskeyChallenge

__all__ = ["passkeys_blueprint"]


def passkeys_blueprint(*, url_prefix: str = "/auth") -> Blueprint:
    """The passkey and re-authentication endpoints under ``url_prefix``.

    Needs ``FlaskAuth`` on the app and ``flow.enable_passkeys(...)``.
    """
    blueprint = Blueprint("auth_store_passkeys", __name__, url_prefix=url_prefix)
    blueprint.register_error_handler(AuthStoreError, _json_error)
    blueprint.register_error_handler(HTTPException, _json_http_error)
    blueprint.before_request(_json_only)

    @blueprint.get("/passkeys.js")
    def passkeys_script() -> Response:
        return send_file(SCRIPT, mimetype="text/javascript")

    @blueprint.get("/csrf")
    def csrf() -> Response:
        return jsonify({"csrf_token": get_auth().csrf_token()})

    @blueprint.post("/passkeys/register/options")
    def register_options() -> Response:
        auth, user = get_auth(), _user()
        attachment = registration_options_request(_body())
        challenge = auth.flow.passkeys.registration_options(
            user, authenticator_attachment=attachment
        )
        return _keep_state(auth, auth.cookies.passkey, challenge)

    @blueprint.post("/passkeys/register")
    def register() -> Response:
        auth, user = get_auth(), _user()
        name = auth.cookies.passkey
        passkey = auth.flow.passkeys.register(
            user, _body(), state=request.cookies.get(name), name=request.args.get("name")
        )
        response = jsonify(passkey_json(passkey))
        response.status_code = 201
        auth.delete_cookie(response, name)
        return response

    @blueprint.post("/passkeys/sign-in/options")
    def sign_in_options() -> Response:
        auth = get_auth()
        email, conditional = sign_in_options_request(_body())
        challenge = auth.flow.passkeys.sign_in_options(email, conditional=conditional)
        name = challenge_cookie(auth.cookies, conditional=conditional)
        return _keep_state(auth, name, challenge)

    @blueprint.post("/passkeys/sign-in")
    def sign_in() -> Response:
        auth = get_auth()
        conditional = is_conditional(request.args.get("mediation"))
        name = challenge_cookie(auth.cookies, conditional=conditional)
        result = auth.flow.sign_in_passkey(
            _body(),
            state=request.cookies.get(name),
            previous_token=auth.session_token,
            client=auth.client,
        )
        auth.apply(result)
        response = jsonify(sign_in_json(result))
        auth.delete_cookie(response, name)
        return response

    @blueprint.post("/passkeys/second-factor/options")
    def second_factor_options() -> Response:
        auth = get_auth()
        challenge = auth.flow.second_factor_passkey_options(auth.pending)
        return _keep_state(auth, auth.cookies.passkey, challenge)

    @blueprint.post("/passkeys/second-factor")
    def second_factor() -> Response:
        auth = get_auth()
        name = auth.cookies.passkey
        signed_in = auth.flow.verify_second_factor_passkey(
            auth.pending,
            _body(),
            state=request.cookies.get(name),
            previous_token=auth.session_token,
            client=auth.client,
        )
        auth.login(signed_in)
        response = jsonify(sign_in_json(signed_in))
        auth.delete_cookie(response, name)
        return response

    @blueprint.get("/passkeys")
    def list_passkeys() -> Response:
        auth, user = get_auth(), _user()
        return jsonify([passkey_json(p) for p in auth.flow.passkeys.list(user)])

    @blueprint.patch("/passkeys/<credential_id>")
    def rename_passkey(credential_id: str) -> Response:
        auth, user = get_auth(), _user()
        passkey = auth.flow.passkeys.rename(user, credential_id, rename_request(_body()))
        return jsonify(passkey_json(passkey))

    @blueprint.delete("/passkeys/<credential_id>")
    def delete_passkey(credential_id: str) -> Response:
        auth, user = get_auth(), _user()
        auth.flow.passkeys.delete(
            user,
            credential_id,
            proof=request.cookies.get(auth.cookies.reauth),
            session_id=auth.session_id,
        )
        return Response(status=204)

    @blueprint.post("/passkeys/reauthenticate/options")
    def reauthenticate_options() -> Response:
        auth, user = get_auth(), _user()
        challenge = auth.flow.passkeys.reauthentication_options(user)
        return _keep_state(auth, auth.cookies.passkey, challenge)

    @blueprint.post("/passkeys/reauthenticate")
    def reauthenticate_passkey() -> Response:
        auth, user = get_auth(), _user()
        name = auth.cookies.passkey
        proof = auth.flow.passkeys.reauthenticate(
            user, _body(), state=request.cookies.get(name), session_id=auth.session_id
        )
        response = _proved(auth, user, proof)
        auth.delete_cookie(response, name)
        return response

    @blueprint.post("/reauthenticate")
    def reauthenticate() -> Response:
        auth, user = get_auth(), _user()
        password, code = reauthentication_request(_body())
        proof = auth.flow.reauthenticate(
            user, password=password, code=code, session_id=auth.session_id
        )
        return _proved(auth, user, proof)

    return blueprint


def _user() -> User:
    user = get_current_user()
    if user is None:
        raise NotSignedInError(Messages.NOT_SIGNED_IN)
    return user


def _body() -> bytes:
    """The raw body, read up to one byte past the limit (the parsers then refuse it)."""
    return request.stream.read(MAX_BODY_BYTES + 1)


def _keep_state(auth: FlaskAuth, name: str, challenge: PasskeyChallenge) -> Response:
    """The options as JSON, with the challenge's state in its cookie."""
    response = jsonify(challenge.options)
    seconds = int(auth.flow.passkeys.challenge_max_age.total_seconds())
    auth.set_cookie(response, name, challenge.state, seconds)
    return response


def _proved(auth: FlaskAuth, user: User, proof: str) -> Response:
    """The answer to a passed re-authentication; the proof goes in its cookie."""
    proofs = auth.flow.proofs
    response = jsonify(reauthenticated_json(proofs, user, proof, auth.session_id))
    auth.set_cookie(response, auth.cookies.reauth, proof, int(proofs.max_age.total_seconds()))
    return response


def _json_only() -> None:
    """415 for a POST that is not ``application/json``, as on the FastAPI router."""
    if request.method == "POST" and request.mimetype != "application/json":
        abort(415, description="Send application/json.")


def _json_error(error: AuthStoreError) -> Any:
    answer = http_error(error)
    if answer is None:
        raise error  # the server's failure: Flask answers 500
    response = jsonify(answer.body())
    response.status_code = answer.status
    response.headers.update(answer.headers)
    return response


def _json_http_error(error: HTTPException) -> Any:
    response = jsonify({"detail": error.description})
    response.status_code = error.code or 500
    return response
