// @auth/core's session cookie handling (SessionStore) and secret reading (setEnvDefaults).
// stdin: [{op: "chunk", name, value, cookies} | {op: "read", name, cookies} | {op: "env", env}]
// stdout: one result per operation.
import { setEnvDefaults } from "@auth/core";
import { SessionStore } from "./node_modules/@auth/core/lib/utils/cookie.js";

const ops = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));
const logger = { debug() {}, error() {}, warn() {} };

const results = [];
for (const op of ops) {
  if (op.op === "env") {
    const config = { providers: [] };
    setEnvDefaults(op.env, config);
    results.push(config.secret);
    continue;
  }
  const store = new SessionStore({ name: op.name, options: {} }, op.cookies ?? {}, logger);
  if (op.op === "read") {
    results.push(store.value);
  } else {
    results.push(store.chunk(op.value, {}).map((c) => ({
      name: c.name, value: c.value, cleared: c.options.maxAge === 0,
    })));
  }
}
console.log(JSON.stringify(results));
