/**
 * Issue 10, media fetching: only http(s) URLs on MEDIA_ALLOWED_HOSTS, redirects by hand to allowed
 * hosts only (a few hops), at most MAX_MEDIA_BYTES — refusals are final, 5xx and network trouble
 * transient. Against a real loopback server (127.0.0.1 allowed, `localhost` only where a test says).
 */
import type http from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_MEDIA_ALLOWED_HOSTS, hostAllowed, parseHostPattern, parseHostPatterns } from '../../channels/media-hosts.js';
import { MediaRefusedError, fetchMediaFile, formatBytes, mediaPolicy, type MediaFetchOptions } from '../../channels/media-fetch.js';
import { ChannelPermanentError, ChannelTransientError } from '../../channels/types.js';
import { ConfigError, loadConfig } from '../../runtime/config.js';
import { listenOnLoopback, type LoopbackServer } from '../fakes/common.js';

describe('MEDIA_ALLOWED_HOSTS patterns', () => {
  const defaults = [...DEFAULT_MEDIA_ALLOWED_HOSTS];

  it('the defaults cover the VK and Meta CDNs and nothing local', () => {
    for (const host of ['sun9-41.userapi.com', 'psv4.userapi.com', 'vk.com', 'pp.vk.com', 'vk.ru', 'lookaside.fbsbx.com', 'scontent.xx.fbcdn.net', 'mmg.whatsapp.net']) {
      expect(hostAllowed(host, defaults), host).toBe(true);
    }
    for (const host of ['localhost', '127.0.0.1', '[::1]', '169.254.169.254', 'evilvk.com', 'userapi.com.evil.net', 'vk.com.evil.net', 'graph.facebook.com', 'fbcdn.net']) {
      expect(hostAllowed(host, defaults), host).toBe(false);
    }
  });

  it('*.suffix matches subdomains only; exact names match themselves; case and a trailing dot do not matter', () => {
    const p = parseHostPatterns(' *.Example.com , files.test ,, 127.0.0.1,[::1]');
    expect(p).toEqual(['*.example.com', 'files.test', '127.0.0.1', '[::1]']);
    expect(hostAllowed('a.example.com', p)).toBe(true);
    expect(hostAllowed('a.b.EXAMPLE.com.', p)).toBe(true);
    expect(hostAllowed('example.com', p)).toBe(false);
    expect(hostAllowed('badexample.com', p)).toBe(false);
    expect(hostAllowed('files.test', p)).toBe(true);
    expect(hostAllowed('x.files.test', p)).toBe(false);
    expect(hostAllowed('127.0.0.1', p)).toBe(true);
    expect(hostAllowed('127.0.0.2', p)).toBe(false);
    expect(hostAllowed('[::1]', p)).toBe(true);
    expect(hostAllowed('', p)).toBe(false);
  });

  it('entries that are not a host name or *.suffix are refused, naming them', () => {
    for (const bad of ['*', '*.', '*.com', 'a.*.com', 'http://a.com', 'a.com:8080', 'a.com/path', 'user@a.com', 'a b.com']) {
      expect(parseHostPattern(bad), bad).toHaveProperty('error');
    }
    expect(() => parseHostPatterns('ok.com, a.com:80, *')).toThrow(/"a\.com:80".*"\*"/);
    expect(parseHostPattern('bücher.de')).toEqual({ pattern: 'xn--bcher-kva.de' });
  });

  it('formatBytes', () => {
    expect(formatBytes(104_857_600)).toBe('100 MB');
    expect(formatBytes(1500)).toBe('1,500 bytes');
  });
});

describe('configuration', () => {
  it('defaults: the CDN list, 100 MB, 5 tries', () => {
    const c = loadConfig({});
    expect(c.MEDIA_ALLOWED_HOSTS).toEqual([...DEFAULT_MEDIA_ALLOWED_HOSTS]);
    expect(c.MAX_MEDIA_BYTES).toBe(104_857_600);
    expect(c.MEDIA_FETCH_ATTEMPTS).toBe(5);
    expect(loadConfig({ MEDIA_ALLOWED_HOSTS: '127.0.0.1, *.cdn.test' }).MEDIA_ALLOWED_HOSTS).toEqual(['127.0.0.1', '*.cdn.test']);
  });

  it.each([
    ['MEDIA_ALLOWED_HOSTS', 'cdn.test:8080'],
    ['MEDIA_ALLOWED_HOSTS', '*'],
    ['MEDIA_ALLOWED_HOSTS', ' , '],
    ['MAX_MEDIA_BYTES', '0'],
    ['MEDIA_FETCH_ATTEMPTS', '0'],
    ['MEDIA_FETCH_ATTEMPTS', '11'],
  ])('rejects %s=%s naming it', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(new RegExp(`^\\s*${name}:`, 'm'));
  });
});

describe('fetchMediaFile', () => {
  let server: LoopbackServer;
  let origin: string;
  let port: string;
  const hits: Array<{ path: string; authorization?: string }> = [];
  const routes = new Map<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>();

  beforeAll(async () => {
    server = await listenOnLoopback(async (req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      hits.push({ path, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
      const route = routes.get(path);
      if (!route) {
        res.writeHead(404).end();
        return;
      }
      route(req, res);
    });
    origin = server.origin;
    port = new URL(origin).port;
  });
  beforeEach(() => {
    hits.length = 0;
    routes.clear();
  });
  afterAll(async () => {
    await server.close();
  });

  const opts = (over: Partial<MediaFetchOptions> & { hosts?: string[]; maxBytes?: number } = {}): MediaFetchOptions => ({
    policy: mediaPolicy({ allowedHosts: over.hosts ?? ['127.0.0.1'], ...(over.maxBytes ? { maxBytes: over.maxBytes } : {}) }),
    timeoutMs: over.timeoutMs ?? 5000,
    what: 'test download',
    ...(over.headers ? { headers: over.headers } : {}),
    ...(over.fetch ? { fetch: over.fetch } : {}),
  });
  const file = (body: Buffer, headers: Record<string, string | number> = {}) => (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/pdf', 'content-length': body.byteLength, ...headers });
    res.end(body);
  };
  const redirect = (location: string, status = 302) => (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(status, { location }).end();
  };
  async function refusal(p: Promise<unknown>): Promise<MediaRefusedError> {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(MediaRefusedError);
    return err as MediaRefusedError;
  }

  it('fetches an allowed http URL byte-exact with its headers', async () => {
    routes.set('/a.pdf', file(Buffer.from('%PDF-1.4 hello'), { 'content-disposition': 'attachment; filename="a.pdf"' }));
    const got = await fetchMediaFile(`${origin}/a.pdf`, opts());
    expect(Buffer.from(got.bytes).toString()).toBe('%PDF-1.4 hello');
    expect(got).toMatchObject({ contentType: 'application/pdf', contentDisposition: 'attachment; filename="a.pdf"', url: `${origin}/a.pdf` });
  });

  it('refuses other schemes, hosts not on the list, invalid URLs and credentials — without a request', async () => {
    expect((await refusal(fetchMediaFile('file:///etc/hostname', opts()))).explanation).toBe('only http and https links are fetched, not file:');
    expect((await refusal(fetchMediaFile(`http://localhost:${port}/a.pdf`, opts()))).explanation).toBe('host "localhost" is not in MEDIA_ALLOWED_HOSTS');
    expect((await refusal(fetchMediaFile('ftp://127.0.0.1/x', opts()))).reason).toBe('scheme');
    expect((await refusal(fetchMediaFile('not a url', opts()))).reason).toBe('bad_url');
    expect((await refusal(fetchMediaFile(`http://u:p@127.0.0.1:${port}/a.pdf`, opts()))).reason).toBe('bad_url');
    expect(hits).toEqual([]);
  });

  it('follows redirects on the same host (keeping the headers), refuses one to a host not on the list', async () => {
    routes.set('/doc', redirect('/cdn/doc.pdf'));
    routes.set('/cdn/doc.pdf', file(Buffer.from('doc')));
    const got = await fetchMediaFile(`${origin}/doc`, opts({ headers: { authorization: 'Bearer t' } }));
    expect(Buffer.from(got.bytes).toString()).toBe('doc');
    expect(got.url).toBe(`${origin}/cdn/doc.pdf`);
    expect(hits).toEqual([{ path: '/doc', authorization: 'Bearer t' }, { path: '/cdn/doc.pdf', authorization: 'Bearer t' }]);

    hits.length = 0;
    routes.set('/away', redirect(`http://localhost:${port}/cdn/doc.pdf`, 307));
    const err = await refusal(fetchMediaFile(`${origin}/away`, opts()));
    expect(err.reason).toBe('redirect');
    expect(err.explanation).toBe('redirected to a link that is not fetched: host "localhost" is not in MEDIA_ALLOWED_HOSTS');
    expect(hits.map((x) => x.path)).toEqual(['/away']);
  });

  it('a redirect to another allowed host is followed without the token', async () => {
    routes.set('/doc', redirect(`http://localhost:${port}/cdn/doc.pdf`));
    routes.set('/cdn/doc.pdf', file(Buffer.from('doc')));
    const got = await fetchMediaFile(`${origin}/doc`, opts({ hosts: ['127.0.0.1', 'localhost'], headers: { authorization: 'Bearer t' } }));
    expect(Buffer.from(got.bytes).toString()).toBe('doc');
    expect(hits).toEqual([{ path: '/doc', authorization: 'Bearer t' }, { path: '/cdn/doc.pdf' }]);
  });

  it('stops after 5 redirects; a redirect without Location is final', async () => {
    routes.set('/loop', redirect('/loop'));
    expect((await refusal(fetchMediaFile(`${origin}/loop`, opts()))).explanation).toBe('more than 5 redirects');
    expect(hits.length).toBe(6);
    routes.set('/nowhere', (_req, res) => void res.writeHead(302).end());
    const err = await fetchMediaFile(`${origin}/nowhere`, opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelPermanentError);
    expect(err).not.toBeInstanceOf(MediaRefusedError);
  });

  it('never follows https down to http', async () => {
    const fakeFetch: typeof fetch = async () => new Response(null, { status: 302, headers: { location: `http://127.0.0.1:${port}/a.pdf` } });
    const err = await refusal(fetchMediaFile('https://127.0.0.1/x', opts({ fetch: fakeFetch })));
    expect(err.explanation).toBe('redirected from https to plain http');
  });

  it('refuses a file over MAX_MEDIA_BYTES by its Content-Length, and by counting when there is none', async () => {
    routes.set('/big.bin', file(Buffer.alloc(5000)));
    expect((await refusal(fetchMediaFile(`${origin}/big.bin`, opts({ maxBytes: 1000 })))).explanation).toBe(
      'the file is 5,000 bytes, more than MAX_MEDIA_BYTES (1,000 bytes)',
    );
    // A body without a length that never ends: abandoned once past the cap, not buffered.
    let written = 0;
    let closed: () => void;
    const serverSawClose = new Promise<void>((r) => (closed = r));
    routes.set('/endless', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(16 * 1024);
      const pump = () => {
        while (!res.destroyed && written < 64 * 1024 * 1024 && res.write(chunk)) written += chunk.byteLength;
      };
      res.on('drain', pump);
      res.on('close', () => closed());
      pump();
    });
    const err = await refusal(fetchMediaFile(`${origin}/endless`, opts({ maxBytes: 100_000 })));
    expect(err.explanation).toBe('the file is larger than MAX_MEDIA_BYTES (100,000 bytes)');
    await serverSawClose;
    expect(written).toBeLessThan(64 * 1024 * 1024);
    // Exactly at the cap is fine.
    routes.set('/exact.bin', file(Buffer.alloc(1000, 7)));
    expect((await fetchMediaFile(`${origin}/exact.bin`, opts({ maxBytes: 1000 }))).bytes.byteLength).toBe(1000);
  });

  it('5xx, 429 and a closed port are transient (Retry-After capped at 30 s); 404 and 403 are final', async () => {
    routes.set('/busy', (_req, res) => void res.writeHead(503, { 'retry-after': '86400' }).end());
    const busy = await fetchMediaFile(`${origin}/busy`, opts()).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(ChannelTransientError);
    expect(busy).toMatchObject({ channelCode: 'http_503', retryAfterMs: 30_000 });
    const closed = await listenOnLoopback(async () => {});
    const closedUrl = `${closed.origin}/x`;
    await closed.close();
    expect(await fetchMediaFile(closedUrl, opts()).catch((e: unknown) => e)).toMatchObject({ channelCode: 'network' });
    expect(await fetchMediaFile(`${origin}/missing`, opts()).catch((e: unknown) => e)).toMatchObject({ channelCode: 'http_404', channelMessage: 'file not available (HTTP 404)' });
  });

  it('a server that never answers is a transient timeout', async () => {
    routes.set('/hang', () => {});
    const err = await fetchMediaFile(`${origin}/hang`, opts({ timeoutMs: 200 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelTransientError);
    expect(err).toMatchObject({ channelCode: 'timeout' });
  });
});
