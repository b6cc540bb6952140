// A Next.js app's database session, written by the real @auth/pg-adapter.
// stdin: {connectionString, schema, email, name}
// stdout: {userId, sessionToken, expires}: a user and a session of 1 day, as
// Auth.js's database strategy creates them at sign-in.
import { randomUUID } from "node:crypto";
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
  const user = await adapter.createUser({
    email: input.email, name: input.name, emailVerified: null, image: null,
  });
  const session = await adapter.createSession({
    sessionToken: randomUUID(),
    userId: user.id,
    expires: new Date(Date.now() + 24 * 60 * 60 * 1000),
  });
  console.log(JSON.stringify({
    userId: String(user.id), sessionToken: session.sessionToken, expires: session.expires,
  }));
} finally {
  await pool.end();
}
