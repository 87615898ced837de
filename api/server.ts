/** Serves the app on config.HOST:PORT (PORT 0 → a free port; the real one is reported). */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { createApp } from './app.js';
import { bootstrapOwner } from './auth.js';
import type { AppDeps } from './deps.js';
import { TaskChangeFeed } from './task-changes.js';

export interface ApiServer {
  url: string;
  close(): Promise<void>;
}

/** With `databaseUrl`, the server runs the task change feed (`GET /api/task-changes`) on its own connection. */
export async function startApiServer({ databaseUrl, ...given }: AppDeps & { databaseUrl?: string }): Promise<ApiServer> {
  const deps: AppDeps = { ...given, taskChanges: given.taskChanges ?? (databaseUrl ? new TaskChangeFeed({ databaseUrl, logger: given.logger }) : undefined) };
  const { config, logger } = deps;
  const owner = await bootstrapOwner(deps.db, config.BOOTSTRAP_ADMIN_TOKEN);
  if (owner) logger.info({ employeeId: owner.id }, 'account owner created from BOOTSTRAP_ADMIN_TOKEN');

  // The app is built once the real port is known, so channel `webhookUrl`s name it (PORT=0).
  let resolveApp!: (app: ReturnType<typeof createApp>) => void;
  const appReady = new Promise<ReturnType<typeof createApp>>((r) => (resolveApp = r));

  const server = serve({
    fetch: async (req, env) => (await appReady).fetch(req, env),
    hostname: config.HOST,
    port: config.PORT,
  }) as Server;

  const address = await new Promise<AddressInfo>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
  resolveApp(createApp({ ...deps, config: { ...config, PORT: address.port } }));

  // A wildcard bind is reachable on loopback; report an address a client can use.
  const bound = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
  const host = bound.includes(':') ? `[${bound}]` : bound;
  const url = `http://${host}:${address.port}`;
  logger.info({ url }, 'HTTP API listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    close: () =>
      (closing ??= new Promise<void>((resolve, reject) => {
        // Open change streams end first: they would hold the connections (and close()) open.
        void deps.taskChanges?.close();
        server.close((err) => (err ? reject(err) : resolve()));
        // Idle keep-alive connections would hold close() open.
        server.closeIdleConnections();
        // Requests still running after 3 s are cut (webhook senders retry): shutdown has 15 s in all.
        setTimeout(() => server.closeAllConnections(), 3000).unref();
      })),
  };
}
