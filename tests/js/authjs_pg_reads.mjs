// Runs @auth/pg-adapter's reads against a Postgres schema and prints what they return.
// stdin: {"url": "postgresql://...", "schema": "...", "userId": "...", "email": "...",
//         "provider": "...", "providerAccountId": "...", "sessionToken": "..."}
// stdout: {"getUser": {...}, "getUserByEmail": {...}, "getUserByAccount": {...},
//          "getSessionAndUser": {"session": {...}, "user": {...}}}
import PostgresAdapter from "@auth/pg-adapter";
import pg from "pg";

const input = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));

const pool = new pg.Pool({
  connectionString: input.url,
  options: `-c search_path=${input.schema}`,
  max: 2,
});
try {
  const adapter = PostgresAdapter(pool);
  const result = {
    getUser: await adapter.getUser(input.userId),
    getUserByEmail: await adapter.getUserByEmail(input.email),
    getUserByAccount: await adapter.getUserByAccount({
      provider: input.provider,
      providerAccountId: input.providerAccountId,
    }),
    getSessionAndUser: await adapter.getSessionAndUser(input.sessionToken),
  };
  console.log(JSON.stringify(result));
} finally {
  await pool.end();
}
