// Passkeys the way Auth.js handles them, with the real @simplewebauthn/server.
//
// Auth.js's WebAuthn provider (@auth/core/src/lib/utils/webauthn-utils.ts) keeps an
// authenticator row with base64 strings (Buffer.toString("base64")) and transports
// joined by commas, and decodes them back (fromBase64, stringToTransports) before
// calling SimpleWebAuthn. This script does exactly that, against SimpleWebAuthn 14's
// API (`credential: {id, publicKey, counter, transports}`).
//
// stdin: {"op": "registration-options" | "verify-registration" | "verify-authentication", ...}
// stdout: one JSON value.
import {
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from "@simplewebauthn/server";

const fromBase64 = (text) => new Uint8Array(Buffer.from(text, "base64"));
const toBase64 = (bytes) => Buffer.from(bytes).toString("base64");
const stringToTransports = (text) => (text ? text.split(",") : undefined);
const transportsToString = (list) => list?.join(",");

// Auth.js's randomString(32): 32 random bytes as hex.
const randomString = (size) =>
  Array.from(crypto.getRandomValues(new Uint8Array(size)))
    .map((i) => ("0" + i.toString(16)).slice(-2))
    .join("");

const input = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));

let output;
if (input.op === "registration-options") {
  // Auth.js's getRegistrationOptions: a random user id per registration, the e-mail as name.
  output = await generateRegistrationOptions({
    rpID: input.rpID,
    rpName: input.rpName,
    userID: new TextEncoder().encode(randomString(32)),
    userName: input.email,
    excludeCredentials: [],
    authenticatorSelection: { residentKey: "required", userVerification: "required" },
  });
} else if (input.op === "verify-registration") {
  // Auth.js's verifyRegister, then the rows its adapter stores.
  const verification = await verifyRegistrationResponse({
    response: input.response,
    expectedChallenge: input.expectedChallenge,
    expectedOrigin: input.expectedOrigin,
    expectedRPID: input.expectedRPID,
    requireUserVerification: true,
  });
  if (!verification.verified) throw new Error("registration did not verify");
  const info = verification.registrationInfo;
  const credentialID = toBase64(Buffer.from(info.credential.id, "base64url"));
  output = {
    account: { providerAccountId: credentialID, provider: input.provider, type: "webauthn" },
    authenticator: {
      providerAccountId: credentialID,
      counter: info.credential.counter,
      credentialID,
      credentialPublicKey: toBase64(info.credential.publicKey),
      credentialBackedUp: info.credentialBackedUp,
      credentialDeviceType: info.credentialDeviceType,
      transports: transportsToString(input.response.response.transports) ?? null,
    },
  };
} else if (input.op === "verify-authentication") {
  // Auth.js's verifyAuthenticate: the row as stored, decoded by fromAdapterAuthenticator.
  const row = input.row;
  const credentialID = fromBase64(row.credentialID);
  try {
    const verification = await verifyAuthenticationResponse({
      response: input.response,
      expectedChallenge: input.expectedChallenge,
      expectedOrigin: input.expectedOrigin,
      expectedRPID: input.expectedRPID,
      credential: {
        id: Buffer.from(credentialID).toString("base64url"),
        publicKey: fromBase64(row.credentialPublicKey),
        counter: Number(row.counter),
        transports: stringToTransports(row.transports),
      },
      requireUserVerification: false,
    });
    output = { verified: verification.verified, ...verification.authenticationInfo };
  } catch (error) {
    // Auth.js turns this into a WebAuthnVerificationError: the sign-in is refused.
    output = { verified: false, error: String(error.message ?? error) };
  }
} else {
  throw new Error(`unknown op ${input.op}`);
}
console.log(JSON.stringify(output));
