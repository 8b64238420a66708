// Serves the ingress app under Node (@hono/node-server): the local stack (`turbowan serve`).
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import type { Hono } from "hono";

export interface Listening {
  /** http://host:port as bound (port 0 picks a free one). */
  url: string;
  port: number;
  /** Stops accepting, ends open SSE streams and waits for the server to close. */
  close(): Promise<void>;
}

export async function listen(app: Hono, opts: { port: number; hostname?: string }): Promise<Listening> {
  const hostname = opts.hostname ?? "127.0.0.1";
  const server = createAdaptorServer({ fetch: app.fetch, hostname }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new Error(`Port ${opts.port} on ${hostname} is in use: stop the other server or set TURBOWAN_PORT to a free port.`)
          : err,
      ),
    );
    server.listen(opts.port, hostname, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shown = hostname === "0.0.0.0" || hostname === "::" || hostname === "127.0.0.1" ? "localhost" : hostname;
  return {
    url: `http://${shown}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Event streams never end by themselves.
        server.closeAllConnections();
      }),
  };
}
