// A headless Better Auth app (the real `better-auth` package) on a test database, run step by step.
// stdin: {db: {kind: "pg", url, schema} | {kind: "sqlite", path}, secret, baseURL?,
//         storeIdentifier?: "hashed", bearer?: bool, argon2?: bool, steps: [{op, ...}]}
// argon2: the app hashes with argon2id (PHC strings, OWASP's minimum) and verifies argon2id
// and its own scrypt, configured exactly as docs/better-auth.md shows.
// stdout: {results: [...]}: one JSON value per step, in order. A step Better Auth refuses
// (an APIError) gives {error: {status, code, message}}; an endpoint that throws another error
// gives status 500, which is what its HTTP handler answers; anything else fails the script.
//
// Ops: compileMigrations, runMigrations, signUp {email, password, name}, signIn {email, password},
// getSession {cookie?, bearer?}, revokeSession {cookie, token}, signOut {cookie},
// listAccounts {cookie}, oauthSignIn {profile}, requestPasswordReset {email},
// resetPassword {token, newPassword}, hashPassword {password}, verifyPassword {hash, password}.
// oauthSignIn runs a real authorization-code flow (genericOAuth, provider "mock") against a
// local token/userinfo server started here: the edge of the world.
import http from "node:http";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { argon2idAsync } from "@noble/hashes/argon2.js";
import Database from "better-sqlite3";
import pg from "pg";
import { betterAuth } from "better-auth";
import { hashPassword, verifyPassword } from "better-auth/crypto";
import { getMigrations } from "better-auth/db/migration";
import { bearer } from "better-auth/plugins/bearer";
import { genericOAuth } from "better-auth/plugins/generic-oauth";

const input = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));

let profile = { id: 1, email: "nobody@example.com", name: "Nobody", emailVerified: true };
const provider = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.setHeader("content-type", "application/json");
    if (req.url.startsWith("/token")) {
      return res.end(JSON.stringify({
        access_token: `at-${Date.now()}`, refresh_token: "rt-1", token_type: "Bearer",
        expires_in: 3600, scope: "openid email profile",
      }));
    }
    if (req.url.startsWith("/userinfo")) return res.end(JSON.stringify(profile));
    res.statusCode = 404;
    res.end("{}");
  });
});
await new Promise((resolve) => provider.listen(0, "127.0.0.1", resolve));
const P = `http://127.0.0.1:${provider.address().port}`;

// docs/better-auth.md, "argon2id on both sides": keep in step with the page.
const ARGON2 = { t: 2, m: 19456, p: 1, dkLen: 32 }; // auth-store's argon2id parameters
const unpadded = (bytes) => Buffer.from(bytes).toString("base64").replace(/=+$/, "");
const argon2Password = {
  async hash(password) {
    const salt = randomBytes(16);
    const key = await argon2idAsync(password, salt, ARGON2);
    return `$argon2id$v=19$m=${ARGON2.m},t=${ARGON2.t},p=${ARGON2.p}$${unpadded(salt)}$${unpadded(key)}`;
  },
  async verify({ hash, password }) {
    if (!hash.startsWith("$argon2id$")) return verifyPassword({ hash, password }); // scrypt rows
    const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(hash);
    if (!m) return false;
    const want = Buffer.from(m[5], "base64");
    const got = await argon2idAsync(password, Buffer.from(m[4], "base64"),
      { m: +m[1], t: +m[2], p: +m[3], dkLen: want.length });
    return timingSafeEqual(want, Buffer.from(got));
  },
};

const database = input.db.kind === "pg"
  ? new pg.Pool({ connectionString: input.db.url, options: `-c search_path=${input.db.schema}`, max: 2 })
  : new Database(input.db.path);
const sent = {};
const plugins = [
  genericOAuth({ config: [{
    providerId: "mock", clientId: "cid", clientSecret: "csecret",
    authorizationUrl: `${P}/authorize`, tokenUrl: `${P}/token`, userInfoUrl: `${P}/userinfo`,
    scopes: ["openid", "email", "profile"],
  }] }),
];
if (input.bearer) plugins.push(bearer());
const options = {
  database,
  secret: input.secret,
  baseURL: input.baseURL ?? "http://localhost:3000",
  emailAndPassword: {
    enabled: true,
    sendResetPassword: async ({ token }) => { sent.reset = token; },
    ...(input.argon2 ? { password: argon2Password } : {}),
  },
  ...(input.storeIdentifier ? { verification: { storeIdentifier: input.storeIdentifier } } : {}),
  plugins,
  logger: { level: "error" },
  telemetry: { enabled: false },
};
const auth = betterAuth(options);

function sessionCookie(headers) {
  const line = headers.getSetCookie().find((c) => c.split("=")[0].endsWith("session_token"));
  return line ? line.split(";")[0] : null;
}

async function api(call) {
  try {
    return await call();
  } catch (error) {
    if (error?.name !== "APIError" && error?.constructor?.name !== "APIError") {
      return { error: { status: 500, code: null, message: String(error?.message ?? error) } };
    }
    return { error: { status: error.statusCode ?? error.status, code: error.body?.code ?? null,
      message: error.body?.message ?? error.message } };
  }
}

function headers({ cookie, bearer: token } = {}) {
  const h = new Headers({ "user-agent": "better-auth-test/1.0" });
  if (cookie) h.set("cookie", cookie);
  if (token) h.set("authorization", `Bearer ${token}`);
  return h;
}

const ops = {
  async compileMigrations() {
    const m = await getMigrations(options);
    return {
      sql: await m.compileMigrations(),
      toBeCreated: m.toBeCreated.map((t) => t.table),
      toBeAdded: m.toBeAdded.map((t) => ({ table: t.table, fields: Object.keys(t.fields) })),
      schemaProblems: m.schemaProblems ?? null,
    };
  },
  async runMigrations() {
    await (await getMigrations(options)).runMigrations();
    return true;
  },
  async signUp({ email, password, name }) {
    return api(async () => {
      const r = await auth.api.signUpEmail({ body: { email, password, name }, headers: headers(), returnHeaders: true });
      return { token: r.response.token, userId: r.response.user.id, cookie: sessionCookie(r.headers) };
    });
  },
  async signIn({ email, password }) {
    return api(async () => {
      const r = await auth.api.signInEmail({ body: { email, password }, headers: headers(), returnHeaders: true });
      return { token: r.response.token, userId: r.response.user.id, cookie: sessionCookie(r.headers) };
    });
  },
  async getSession(step) {
    return api(async () => {
      const r = await auth.api.getSession({ headers: headers(step), returnHeaders: true });
      return { found: r.response, cookie: sessionCookie(r.headers) };
    });
  },
  async revokeSession({ cookie, token }) {
    return api(() => auth.api.revokeSession({ headers: headers({ cookie }), body: { token } }));
  },
  async signOut({ cookie }) {
    return api(() => auth.api.signOut({ headers: headers({ cookie }) }));
  },
  async listAccounts({ cookie }) {
    return api(() => auth.api.listUserAccounts({ headers: headers({ cookie }) }));
  },
  async oauthSignIn(step) {
    profile = step.profile;
    const start = await auth.api.signInSocial({ body: { provider: "mock", callbackURL: "/done" }, returnHeaders: true });
    const state = new URL(start.response.url).searchParams.get("state");
    const cookie = start.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const res = await auth.handler(new Request(`${options.baseURL}/api/auth/callback/mock?code=c&state=${state}`, { headers: { cookie } }));
    const session = sessionCookie(res.headers);
    const found = session ? await auth.api.getSession({ headers: headers({ cookie: session }) }) : null;
    return { status: res.status, location: res.headers.get("location"), cookie: session, found };
  },
  async requestPasswordReset({ email }) {
    delete sent.reset;
    await auth.api.requestPasswordReset({ body: { email, redirectTo: "/reset" } });
    return { token: sent.reset ?? null };
  },
  async resetPassword({ token, newPassword }) {
    return api(() => auth.api.resetPassword({ body: { token, newPassword } }));
  },
  async hashPassword({ password }) {
    return hashPassword(password);
  },
  async verifyPassword({ hash, password }) {
    return verifyPassword({ hash, password });
  },
};

const results = [];
try {
  for (const step of input.steps) {
    const op = ops[step.op];
    if (!op) throw new Error(`unknown op ${step.op}`);
    results.push(await op(step));
  }
} finally {
  provider.close();
  if (input.db.kind === "pg") await database.end(); else database.close();
}
console.log(JSON.stringify({ results }));
