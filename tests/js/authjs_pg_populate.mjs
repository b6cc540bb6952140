// What a Next.js app on Auth.js leaves in its database, written by the real @auth/pg-adapter.
// stdin: {connectionString, schema, users: [{email, name, emailVerified?, account?: {...}}]}
//   account: {provider, providerAccountId, type, access_token, refresh_token, expires_at,
//             scope, token_type, id_token?}
// stdout: {users: [{userId, sessionToken, expires}], verificationToken: {identifier, token}}:
// each user with their OAuth account and a database session of 30 days, and one pending
// magic-link token, as Auth.js's sign-ins create them.
import { createHash, randomUUID } from "node:crypto";
import PostgresAdapter from "@auth/pg-adapter";
import pg from "pg";

const input = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));
const pool = new pg.Pool({
  connectionString: input.connectionString,
  options: `-c search_path=${input.schema}`,
});
try {
  const adapter = PostgresAdapter(pool);
  const users = [];
  for (const given of input.users) {
    const user = await adapter.createUser({
      email: given.email, name: given.name ?? null, image: null,
      emailVerified: given.emailVerified ? new Date(given.emailVerified) : null,
    });
    if (given.account) await adapter.linkAccount({ ...given.account, userId: user.id });
    const session = await adapter.createSession({
      sessionToken: randomUUID(),
      userId: user.id,
      expires: new Date(Date.now() + 30 * 24 * 60 * 60 * 1000),
    });
    users.push({ userId: String(user.id), sessionToken: session.sessionToken, expires: session.expires });
  }
  const token = createHash("sha256").update(`${randomUUID()}secret`).digest("hex");
  const verificationToken = await adapter.createVerificationToken({
    identifier: input.users[0].email, token, expires: new Date(Date.now() + 24 * 60 * 60 * 1000),
  });
  console.log(JSON.stringify({ users, verificationToken }));
} finally {
  await pool.end();
}
