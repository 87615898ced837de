/**
 * Machinery shared by the loopback fakes (vk-api.ts, graph-api.ts): failures, delays and in-flight
 * holds injected per call key, polling for recorded state, an HTTP server on a free loopback port,
 * and the small request / response helpers. What a key is (a VK method, a Graph kind or path) and
 * in which order a fake applies delays and holds stay with the fake.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeHold {
  /** Resolves when the held request has arrived (its body is read). */
  arrived: Promise<void>;
  /** Lets the request go on: it is processed then (the provider got it, even if the client is gone) and answered. */
  release(): void;
  /** Resolves once the released request was processed and its answer written (or the client was gone). */
  released: Promise<void>;
}

/**
 * Per-key queues of injected failures (of the fake's own shape `F`), delays and holds. The `take…` /
 * `pass…` functions look at the keys in order and use the first queued entry they find.
 */
export interface Gates<F> {
  /** Queue `failure` for the next `times` calls of `key`. */
  failNext(key: string, failure: F, times: number): void;
  /** The next call of `key` is answered after `ms`. */
  delayNext(key: string, ms: number): void;
  /** Hold the next call of `key` until `release()`. */
  holdNext(key: string): FakeHold;
  takeFailure(...keys: string[]): F | undefined;
  /** Waits out a queued delay, if any. */
  passDelay(...keys: string[]): Promise<void>;
  /** If a hold is queued: signals `arrived`, waits for `release()` and returns the hold's `done` (else undefined). */
  passHold(...keys: string[]): Promise<(() => void) | undefined>;
  /** Lets every held request go on. */
  releaseAll(): void;
  /** Forget queued failures, delays and holds; held requests go on. */
  clear(): void;
}

interface Gate {
  arrived: () => void;
  waitRelease: Promise<void>;
  done: () => void;
}

export function createGates<F>(): Gates<F> {
  const failures = new Map<string, F[]>();
  const delays = new Map<string, number[]>();
  const holds = new Map<string, Gate[]>();
  const openGates = new Set<() => void>();

  function push<T>(map: Map<string, T[]>, key: string, value: T): void {
    const list = map.get(key) ?? [];
    list.push(value);
    map.set(key, list);
  }

  function take<T>(map: Map<string, T[]>, keys: string[]): T | undefined {
    for (const key of keys) {
      const value = map.get(key)?.shift();
      if (value !== undefined) return value;
    }
    return undefined;
  }

  const gates: Gates<F> = {
    failNext(key, failure, times) {
      const list = failures.get(key) ?? [];
      for (let i = 0; i < times; i++) list.push(failure);
      failures.set(key, list);
    },
    delayNext(key, ms) {
      push(delays, key, ms);
    },
    holdNext(key) {
      let arrived!: () => void;
      let release!: () => void;
      let done!: () => void;
      const arrivedP = new Promise<void>((r) => (arrived = r));
      const releaseP = new Promise<void>((r) => (release = r));
      const doneP = new Promise<void>((r) => (done = r));
      push(holds, key, { arrived, waitRelease: releaseP, done });
      openGates.add(release);
      return {
        arrived: arrivedP,
        release: () => {
          openGates.delete(release);
          release();
        },
        released: doneP,
      };
    },
    takeFailure: (...keys) => take(failures, keys),
    async passDelay(...keys) {
      const ms = take(delays, keys);
      if (ms) await new Promise((r) => setTimeout(r, ms));
    },
    async passHold(...keys) {
      const hold = take(holds, keys);
      if (!hold) return undefined;
      hold.arrived();
      await hold.waitRelease;
      return hold.done;
    },
    releaseAll() {
      for (const r of openGates) r();
      openGates.clear();
    },
    clear() {
      failures.clear();
      delays.clear();
      gates.releaseAll();
      holds.clear();
    },
  };
  return gates;
}

/** Polls every 10 ms until `predicate()` is truthy; rejects after `timeoutMs` naming `owner` and `what`. */
export async function pollUntil<T>(
  predicate: () => T | undefined | null | false,
  timeoutMs = 5000,
  what = 'condition',
  owner = 'fake',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = predicate();
    if (v) return v as T;
    if (Date.now() > deadline) throw new Error(`${owner}: timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface LoopbackServer {
  /** `http://127.0.0.1:P` */
  origin: string;
  /** Drops open connections and closes the server. */
  close(): Promise<void>;
}

/** Serves `handler` on a free port of 127.0.0.1; a handler that throws answers 500 (or drops the connection). */
export async function listenOnLoopback(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>,
): Promise<LoopbackServer> {
  const server = http.createServer((req, res) => {
    handler(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      } else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A `Request` around a received body, for parsing it with `formData()`. */
export function toRequest(contentType: string, body: Buffer): Request {
  return new Request('http://fake.invalid/', { method: 'POST', headers: { 'content-type': contentType }, body: new Uint8Array(body) });
}

/** `headers` may override the content type. Nothing is written once the response is gone or ended. */
export function sendJson(res: http.ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.writableEnded) return;
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendText(res: http.ServerResponse, status: number, text: string, contentType = 'text/plain; charset=utf-8', headers: Record<string, string> = {}): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
