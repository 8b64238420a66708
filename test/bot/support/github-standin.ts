// A stand-in for the GitHub REST API on loopback: issues installation tokens only for a valid
// App JWT (RS256, checked against the App's public key), and answers reactions and comments only
// with `token <installation token>`. Records every request.
import { createVerify, type KeyObject } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { HostedFiles, listen, readBody, send, type RecordedRequest } from "./http.js";

export interface GitHubStandIn {
  apiBase: string;
  base: string;
  requests: RecordedRequest[];
  hosted: HostedFiles;
  comments: { owner: string; repo: string; issue: number; body: string }[];
  reactions: { owner: string; repo: string; commentId: number; content: string }[];
  tokensIssued: number;
  close(): Promise<void>;
}

function verifyJwt(jwt: string, publicKey: KeyObject, appId: string): boolean {
  const [h, p, s] = jwt.split(".");
  if (!h || !p || !s) return false;
  const header = JSON.parse(Buffer.from(h, "base64url").toString());
  if (header.alg !== "RS256") return false;
  const ok = createVerify("RSA-SHA256").update(`${h}.${p}`).verify(publicKey, Buffer.from(s, "base64url"));
  const claims = JSON.parse(Buffer.from(p, "base64url").toString());
  const now = Math.floor(Date.now() / 1000);
  return ok && String(claims.iss) === appId && claims.exp > now && claims.iat <= now + 60;
}

export async function startGitHubStandIn(opts: { appId: string; publicKey: KeyObject }): Promise<GitHubStandIn> {
  const requests: RecordedRequest[] = [];
  const hosted = new HostedFiles();
  const tokens = new Set<string>();
  const state = { comments: [] as GitHubStandIn["comments"], reactions: [] as GitHubStandIn["reactions"], tokensIssued: 0 };
  let nextId = 3_000_000_000;

  async function handle(req: IncomingMessage, res: ServerResponse) {
    if (hosted.serve(req, res)) return;
    const url = new URL(req.url ?? "/", "http://standin");
    const { json } = await readBody(req);
    const auth = req.headers.authorization;
    requests.push({ method: req.method!, path: url.pathname, query: url.search, authorization: auth, json, files: [], at: Date.now() });
    const badCreds = () => send(res, 401, { message: "Bad credentials", documentation_url: "https://docs.github.com/rest", status: "401" });
    let m: RegExpExecArray | null;
    if ((m = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(url.pathname)) && req.method === "POST") {
      const jwt = /^bearer (.+)$/i.exec(auth ?? "")?.[1];
      if (!jwt || !verifyJwt(jwt, opts.publicKey, opts.appId)) return badCreds();
      const token = `ghs_${m[1]}_${++state.tokensIssued}${"x".repeat(20)}`;
      tokens.add(token);
      return send(res, 201, {
        token,
        expires_at: new Date(Date.now() + 3600_000).toISOString(),
        permissions: { issues: "write", metadata: "read" },
        repository_selection: "all",
      });
    }
    const installationToken = /^token (.+)$/i.exec(auth ?? "")?.[1];
    if (!installationToken || !tokens.has(installationToken)) return badCreds();
    if ((m = /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)\/reactions$/.exec(url.pathname)) && req.method === "POST") {
      const content = (json as { content: string }).content;
      state.reactions.push({ owner: m[1]!, repo: m[2]!, commentId: Number(m[3]), content });
      return send(res, 201, { id: nextId++, node_id: "REA_x", content, created_at: new Date().toISOString(), user: { login: "turbowan[bot]", type: "Bot" } });
    }
    if ((m = /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/.exec(url.pathname)) && req.method === "POST") {
      const body = (json as { body: string }).body;
      state.comments.push({ owner: m[1]!, repo: m[2]!, issue: Number(m[3]), body });
      const id = nextId++;
      return send(res, 201, { id, html_url: `https://github.com/${m[1]}/${m[2]}/issues/${m[3]}#issuecomment-${id}`, body, user: { login: "turbowan[bot]", type: "Bot" }, author_association: "NONE" });
    }
    return send(res, 404, { message: "Not Found", documentation_url: "https://docs.github.com/rest" });
  }

  const server = await listen(handle);
  return {
    apiBase: server.base,
    base: server.base,
    requests,
    hosted,
    get comments() {
      return state.comments;
    },
    get reactions() {
      return state.reactions;
    },
    get tokensIssued() {
      return state.tokensIssued;
    },
    close: server.close,
  };
}
