// @auth/core/jwt and next-auth@4's next-auth/jwt, run on a batch of operations.
// stdin: [{op: "encode" | "decode", format: "v5" | "v4", token?, payload?, secret, salt?, maxAge?}]
// stdout: one result per operation: {token} | {payload} | {error}.
import { decode as decodeV5, encode as encodeV5 } from "@auth/core/jwt";
import { decode as decodeV4, encode as encodeV4 } from "next-auth-v4/jwt";

const ops = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));

const results = [];
for (const op of ops) {
  const v4 = op.format === "v4";
  const params = { secret: op.secret, salt: op.salt ?? (v4 ? "" : undefined) };
  try {
    if (op.op === "encode") {
      const encode = v4 ? encodeV4 : encodeV5;
      results.push({ token: await encode({ ...params, token: op.payload, maxAge: op.maxAge }) });
    } else {
      const decode = v4 ? decodeV4 : decodeV5;
      results.push({ payload: await decode({ ...params, token: op.token }) });
    }
  } catch (error) {
    results.push({ error: `${error.name}: ${error.message}` });
  }
}
console.log(JSON.stringify(results));
