// Prints the installed version of every package package.json pins, and proves each loads.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const pinned = JSON.parse(readFileSync(new URL("./package.json", import.meta.url))).dependencies;
const installed = {};
for (const name of Object.keys(pinned)) {
  const manifest = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  installed[name] = JSON.parse(readFileSync(manifest)).version;
}
await import("@auth/core/jwt");
await import("@auth/pg-adapter");
await import("@simplewebauthn/server");
await import("better-auth");
await import("next-auth-v4/jwt");
const Database = require("better-sqlite3");
const db = new Database(":memory:");
const sqlite = db.prepare("select sqlite_version() as v").get().v;
db.close();
console.log(JSON.stringify({ installed, sqlite }));
