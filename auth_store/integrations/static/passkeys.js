/*
 * auth-store passkeys: the browser half of the passkey endpoints.
 *
 *   <script src="/auth/passkeys.js" data-api="/auth" data-csrf="CSRF TOKEN" defer></script>
 *
 * No framework and no inline script (it runs under a CSP of script-src 'self').
 * It wires elements by their data attributes:
 *
 *   data-passkey-feature            hidden until the browser can do WebAuthn
 *   input[autocomplete~=webauthn]   the autofill sign-in (conditional mediation)
 *   data-passkey-sign-in            a button: sign in with a passkey (no name needed; with
 *                                   data-email-input, the id of an e-mail field that holds
 *                                   an address, only that account's passkeys are offered)
 *   data-passkey-second-factor      a button: finish a pending sign-in with a passkey
 *   data-passkey-register           a button: add a passkey (data-name-input: id of a name field)
 *   data-passkey-rename="ID"        a form with a "name" field: rename passkey ID
 *   data-passkey-delete="ID"        a button: delete passkey ID (asks to confirm it's you)
 *   data-passkey-reauth             the "confirm it's you" panel, shown when needed; inside it
 *     data-reauth-form              forms posting {password} or {code}
 *     data-reauth-passkey           a button: confirm with a passkey
 *   data-passkey-error              where failures are shown
 *
 * data-done on an element is where to go after it succeeded (default: reload).
 * On the script: data-after-sign-in (default "/"), data-second-step (default
 * "/second-step"). It uses PublicKeyCredential.parseCreationOptionsFromJSON,
 * parseRequestOptionsFromJSON and toJSON where the browser has them, and does
 * their base64url work itself where it has not.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var config = (script && script.dataset) || {};
  var api = (config.api || "/auth").replace(/\/+$/, "");
  var csrf = config.csrf || "";
  var afterSignIn = config.afterSignIn || "/";
  var secondStep = config.secondStep || "/second-step";

  // -- base64url and the WebAuthn JSON helpers (with fallbacks) -----------------

  function toBuffer(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    b64 += "===".slice((b64.length + 3) % 4);
    var binary = atob(b64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return Object.assign({}, d, { id: toBuffer(d.id) });
    });
  }

  function creationOptions(json) {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      user: Object.assign({}, json.user, { id: toBuffer(json.user.id) }),
      excludeCredentials: descriptors(json.excludeCredentials),
    });
  }

  function requestOptions(json) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      allowCredentials: descriptors(json.allowCredentials),
    });
  }

  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    var r = credential.response;
    var out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults
        ? credential.getClientExtensionResults()
        : {},
      response: { clientDataJSON: toText(r.clientDataJSON) },
    };
    if (credential.authenticatorAttachment) {
      out.authenticatorAttachment = credential.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      if (r.userHandle) out.response.userHandle = toText(r.userHandle);
    }
    return out;
  }

  // -- talking to the endpoints ------------------------------------------------

  function call(method, path, body) {
    return fetch(api + path, {
      method: method,
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRF-Token": csrf,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      var parsed = response.status === 204 ? Promise.resolve(null) : response.json();
      return parsed.catch(function () { return null; }).then(function (data) {
        if (response.ok) return data;
        var error = new Error((data && data.detail) || "The request failed (" + response.status + ").");
        error.status = response.status;
        error.code = data && data.code;
        throw error;
      });
    });
  }

  function create(optionsPath, verifyPath) {
    return call("POST", optionsPath, {}).then(function (options) {
      return navigator.credentials.create({ publicKey: creationOptions(options) });
    }).then(function (credential) {
      return call("POST", verifyPath, credentialJSON(credential));
    });
  }

  function assert(optionsPath, verifyPath, optionsBody, extra) {
    return call("POST", optionsPath, optionsBody || {}).then(function (options) {
      var request = Object.assign({ publicKey: requestOptions(options) }, extra || {});
      return navigator.credentials.get(request);
    }).then(function (credential) {
      return call("POST", verifyPath, credentialJSON(credential));
    });
  }

  // -- showing what happened -----------------------------------------------------

  var MESSAGES = {
    NotAllowedError: "The passkey request was cancelled or timed out.",
    InvalidStateError: "This device already holds a passkey for your account.",
    SecurityError: "Passkeys don't work on this address.",
    AbortError: "The passkey request was cancelled.",
  };

  function showError(error) {
    var message = MESSAGES[error && error.name] || (error && error.message) || String(error);
    document.querySelectorAll("[data-passkey-error]").forEach(function (box) {
      box.textContent = message;
      box.hidden = false;
    });
  }

  function clearError() {
    document.querySelectorAll("[data-passkey-error]").forEach(function (box) {
      box.textContent = "";
      box.hidden = true;
    });
  }

  function done(element) {
    var target = element && element.getAttribute("data-done");
    if (target) window.location.assign(target);
    else window.location.reload();
  }

  function signedIn(result) {
    window.location.assign(result.status === "signed_in" ? afterSignIn : secondStep);
  }

  function busy(element, on) {
    if (element && "disabled" in element) element.disabled = on;
  }

  // -- sign-in: autofill and the button ---------------------------------------------

  var autofill = null;

  function startAutofill() {
    var field = document.querySelector('input[autocomplete~="webauthn"]');
    var available = window.PublicKeyCredential && PublicKeyCredential.isConditionalMediationAvailable;
    if (!field || !available) return;
    PublicKeyCredential.isConditionalMediationAvailable().then(function (yes) {
      if (!yes) return;
      var controller = (autofill = new AbortController());
      var extra = { mediation: "conditional", signal: controller.signal };
      call("POST", "/passkeys/sign-in/options", { conditional: true })
        .then(function (options) {
          if (controller.signal.aborted) return null;
          return navigator.credentials.get(Object.assign({ publicKey: requestOptions(options) }, extra));
        })
        .then(function (credential) {
          if (!credential || controller.signal.aborted) return;
          return call("POST", "/passkeys/sign-in?mediation=conditional", credentialJSON(credential))
            .then(signedIn, showError);
        })
        .catch(function () {
          // Aborted for a button-started sign-in, or nothing picked: the page stays as it is.
        });
    });
  }

  function stopAutofill() {
    if (autofill) autofill.abort();
    autofill = null;
  }

  function onSignIn(event) {
    var button = event.currentTarget;
    var field = document.getElementById(button.getAttribute("data-email-input") || "");
    var email = field && field.value.trim();
    stopAutofill();
    clearError();
    busy(button, true);
    assert("/passkeys/sign-in/options", "/passkeys/sign-in", email ? { email: email } : {})
      .then(signedIn, function (error) {
        showError(error);
        busy(button, false);
        startAutofill();
      });
  }

  function onSecondFactor(event) {
    var button = event.currentTarget;
    clearError();
    busy(button, true);
    assert("/passkeys/second-factor/options", "/passkeys/second-factor")
      .then(signedIn, function (error) {
        showError(error);
        busy(button, false);
      });
  }

  // -- managing passkeys ----------------------------------------------------------

  function onRegister(event) {
    var button = event.currentTarget;
    var input = document.getElementById(button.getAttribute("data-name-input") || "");
    var name = input && input.value.trim();
    var verify = "/passkeys/register" + (name ? "?name=" + encodeURIComponent(name) : "");
    clearError();
    busy(button, true);
    create("/passkeys/register/options", verify).then(function () {
      done(button);
    }, function (error) {
      showError(error);
      busy(button, false);
    });
  }

  function onRename(event) {
    event.preventDefault();
    var form = event.currentTarget;
    var id = form.getAttribute("data-passkey-rename");
    clearError();
    call("PATCH", "/passkeys/" + encodeURIComponent(id), { name: form.elements.namedItem("name").value })
      .then(function () { done(form); }, showError);
  }

  var retry = null;

  function needsReauthentication(error) {
    return error && error.code === "reauthentication_required";
  }

  function askToConfirm(action) {
    retry = action;
    document.querySelectorAll("[data-passkey-reauth]").forEach(function (panel) {
      panel.hidden = false;
      var first = panel.querySelector("input, button");
      if (first) first.focus();
    });
  }

  function confirmed() {
    document.querySelectorAll("[data-passkey-reauth]").forEach(function (panel) {
      panel.hidden = true;
    });
    var action = retry;
    retry = null;
    if (action) action();
  }

  function onDelete(event) {
    var button = event.currentTarget;
    var id = button.getAttribute("data-passkey-delete");
    clearError();
    var attempt = function () {
      call("DELETE", "/passkeys/" + encodeURIComponent(id)).then(function () {
        done(button);
      }, function (error) {
        if (needsReauthentication(error)) askToConfirm(attempt);
        else showError(error);
      });
    };
    attempt();
  }

  function onReauthForm(event) {
    event.preventDefault();
    var form = event.currentTarget;
    var body = {};
    Array.prototype.forEach.call(form.elements, function (field) {
      if (field.name) body[field.name] = field.value;
    });
    clearError();
    call("POST", "/reauthenticate", body).then(function () {
      form.reset();
      confirmed();
    }, showError);
  }

  function onReauthPasskey(event) {
    var button = event.currentTarget;
    clearError();
    busy(button, true);
    assert("/passkeys/reauthenticate/options", "/passkeys/reauthenticate").then(function () {
      busy(button, false);
      confirmed();
    }, function (error) {
      busy(button, false);
      showError(error);
    });
  }

  // -- wiring -----------------------------------------------------------------------

  function on(selector, type, handler) {
    document.querySelectorAll(selector).forEach(function (element) {
      element.addEventListener(type, handler);
    });
  }

  function start() {
    if (!window.PublicKeyCredential || !navigator.credentials) return;
    document.querySelectorAll("[data-passkey-feature]").forEach(function (element) {
      element.hidden = false;
    });
    on("[data-passkey-sign-in]", "click", onSignIn);
    on("[data-passkey-second-factor]", "click", onSecondFactor);
    on("[data-passkey-register]", "click", onRegister);
    on("form[data-passkey-rename]", "submit", onRename);
    on("[data-passkey-delete]", "click", onDelete);
    on("form[data-reauth-form]", "submit", onReauthForm);
    on("[data-reauth-passkey]", "click", onReauthPasskey);
    startAutofill();
    document.documentElement.setAttribute("data-passkeys-ready", "");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
