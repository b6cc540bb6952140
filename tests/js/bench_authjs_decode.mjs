// Times @auth/core/jwt's decode, one call at a time, for benchmarks/authjs_decode.py.
// stdin: {cases: [{name, token, secret, salt}], warmup, samples}
// stdout: {name: [ns per call, ...]} (each call awaited, as an app awaits it).
import { decode } from "@auth/core/jwt";

const input = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));

const out = {};
for (const { name, token, secret, salt } of input.cases) {
  for (let i = 0; i < input.warmup; i++) await decode({ token, secret, salt });
  const times = [];
  for (let i = 0; i < input.samples; i++) {
    const start = process.hrtime.bigint();
    const payload = await decode({ token, secret, salt });
    times.push(Number(process.hrtime.bigint() - start));
    if (!payload?.sub) throw new Error(`${name}: decode returned no sub`);
  }
  out[name] = times;
}
console.log(JSON.stringify(out));
