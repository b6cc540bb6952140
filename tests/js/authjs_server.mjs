// A real Auth.js app: @auth/core's Auth() request handler behind node:http, with the
// Credentials provider and the JWT session strategy, as a Next.js app would run it.
// Configured by the JSON in $AUTHJS_SERVER_CONFIG:
//   {secret, useSecureCookies, users: [{username, password, id, email, name}], bigClaim}
// (bigClaim: the length of an extra claim, to make the session cookie chunk).
// Prints {"port": N} once listening; serves /auth/* until killed.
import http from "node:http";
import { Auth } from "@auth/core";
import Credentials from "@auth/core/providers/credentials";

const settings = JSON.parse(process.env.AUTHJS_SERVER_CONFIG);

const config = {
  secret: settings.secret,
  trustHost: true,
  basePath: "/auth",
  useSecureCookies: settings.useSecureCookies ?? false,
  session: { strategy: "jwt" },
  logger: { error() {}, warn() {}, debug() {} },
  providers: [
    Credentials({
      credentials: { username: {}, password: {} },
      async authorize(credentials) {
        const user = settings.users.find(
          (u) => u.username === credentials.username && u.password === credentials.password,
        );
        return user ? { id: user.id, email: user.email, name: user.name } : null;
      },
    }),
  ],
  callbacks: {
    jwt({ token, user }) {
      if (user && settings.bigClaim) token.big = "x".repeat(settings.bigClaim);
      return token;
    },
    session({ session, token }) {
      session.user.id = token.sub;
      return session;
    },
  },
};

function body(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

const server = http.createServer(async (req, res) => {
  try {
    const { port } = server.address();
    const hasBody = !["GET", "HEAD"].includes(req.method);
    const request = new Request(`http://127.0.0.1:${port}${req.url}`, {
      method: req.method,
      headers: req.headers,
      body: hasBody ? await body(req) : undefined,
    });
    const response = await Auth(request, config);
    res.statusCode = response.status;
    for (const [name, value] of response.headers) {
      if (name !== "set-cookie") res.setHeader(name, value);
    }
    const cookies = response.headers.getSetCookie();
    if (cookies.length) res.setHeader("set-cookie", cookies);
    res.end(Buffer.from(await response.arrayBuffer()));
  } catch (error) {
    res.statusCode = 500;
    res.end(String(error?.stack ?? error));
  }
});
server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
