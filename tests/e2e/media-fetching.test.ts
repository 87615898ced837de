/**
 * Issue 10, media fetching: a webhook's file URL is fetched only over http(s) from
 * MEDIA_ALLOWED_HOSTS (127.0.0.1 here), never redirected to another host, never past
 * MAX_MEDIA_BYTES, and tried at most MEDIA_FETCH_ATTEMPTS times. A file that is not fetched becomes
 * a line in the comment naming it and saying why; the person's next message arrives in seconds.
 */
import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mediaWebhook } from '../fakes/graph-api.js';
import { listenOnLoopback, type LoopbackServer } from '../fakes/common.js';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';

const MAX_MEDIA_BYTES = 100_000;
const MEDIA_FETCH_ATTEMPTS = 2;

let h: Harness;
/** A file host of our own on 127.0.0.1: redirects, endless bodies, 500s. */
let cdn: LoopbackServer;
let cdnPort: string;
const cdnHits: string[] = [];
const routes = new Map<string, (res: http.ServerResponse) => void>();
let messageNew: Record<string, any>;

beforeAll(async () => {
  cdn = await listenOnLoopback(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    cdnHits.push(path);
    const route = routes.get(path);
    if (route) route(res);
    else res.writeHead(404).end();
  });
  cdnPort = new URL(cdn.origin).port;
  h = await startHarness({ MAX_MEDIA_BYTES: String(MAX_MEDIA_BYTES), MEDIA_FETCH_ATTEMPTS: String(MEDIA_FETCH_ATTEMPTS) });
  await h.startWorkers();
  await h.createVkChannel();
  await h.createWaChannel();
  messageNew = await readFixture('vk/message_new.text.json');
});

afterAll(async () => {
  await h?.close();
  await cdn?.close();
});

interface Doc {
  title: string;
  url: string;
}

/** A VK message from `peer` carrying `docs` as document attachments. */
function vkWithDocs(peer: number, id: number, text: string, docs: Doc[]): Record<string, any> {
  const body = vkMessage(messageNew, { peer, id, text });
  body.object.message.attachments = docs.map((d, i) => ({
    type: 'doc',
    doc: { id: 670_000_000 + id * 10 + i, owner_id: peer, title: d.title, ext: d.title.split('.').pop(), size: 1, type: 1, url: d.url },
  }));
  return body;
}

async function commentsOfPeer(kind: 'vk' | 'whatsapp', peer: string, count: number): Promise<any[]> {
  return h.eventually(async () => {
    const identity = await h.db.selectFrom('contact_identities').select('contact_id').where('channel_kind', '=', kind).where('external_id', '=', peer).executeTakeFirst();
    if (!identity) return undefined;
    const tasks = (await h.api('GET', `/api/tasks?contactId=${identity.contact_id}`)).body.items as any[];
    if (tasks.length === 0) return undefined;
    const comments = (await h.api('GET', `/api/tasks/${tasks[0].id}`)).body.comments as any[];
    return comments.length >= count ? comments : undefined;
  }, 15_000, `${count} comments of ${kind} ${peer}`);
}

/**
 * The person sends `docs`, then a plain message; the plain one must be in the task within seconds.
 * Returns the first comment (the one with the files).
 */
async function sendFilesThenText(peer: number, docs: Doc[]): Promise<any> {
  expect((await h.postVk(vkWithDocs(peer, 1, 'файл во вложении', docs))).text).toBe('ok');
  const sentAt = Date.now();
  expect((await h.postVk(vkMessage(messageNew, { peer, id: 2, text: 'и ещё вопрос' }))).text).toBe('ok');
  const comments = await commentsOfPeer('vk', String(peer), 2);
  expect(Date.now() - sentAt).toBeLessThan(15_000);
  expect(comments.map((c) => c.text)[1]).toBe('и ещё вопрос');
  return comments[0];
}

// Peers no other test file uses: workflow ids are shared on the one dev server.
describe('a file that is not fetched is named in the comment, and the next message follows', () => {
  it('a file:// URL', async () => {
    const c = await sendFilesThenText(512349301, [{ title: 'hostname.txt', url: 'file:///etc/hostname' }]);
    expect(c.attachments).toEqual([]);
    expect(c.text).toBe(
      'файл во вложении\n[taskwire: document "hostname.txt" was not downloaded and is not attached — only http and https links are fetched, not file:]',
    );
  });

  it('a URL on localhost, which is not in MEDIA_ALLOWED_HOSTS: never requested', async () => {
    routes.set('/secret.pdf', (res) => res.writeHead(200, { 'content-type': 'application/pdf' }).end('%PDF secret'));
    const c = await sendFilesThenText(512349302, [{ title: 'secret.pdf', url: `http://localhost:${cdnPort}/secret.pdf` }]);
    expect(c.attachments).toEqual([]);
    expect(c.text).toContain('[taskwire: document "secret.pdf" was not downloaded and is not attached — host "localhost" is not in MEDIA_ALLOWED_HOSTS]');
    expect(cdnHits).not.toContain('/secret.pdf');
  });

  it('a redirect from 127.0.0.1 to localhost: the target is never requested', async () => {
    routes.set('/moved.pdf', (res) => res.writeHead(302, { location: `http://localhost:${cdnPort}/internal.pdf` }).end());
    routes.set('/internal.pdf', (res) => res.writeHead(200, { 'content-type': 'application/pdf' }).end('%PDF internal'));
    const c = await sendFilesThenText(512349303, [{ title: 'moved.pdf', url: `${cdn.origin}/moved.pdf` }]);
    expect(c.attachments).toEqual([]);
    expect(c.text).toContain(
      '[taskwire: document "moved.pdf" was not downloaded and is not attached — redirected to a link that is not fetched: host "localhost" is not in MEDIA_ALLOWED_HOSTS]',
    );
    expect(cdnHits).toContain('/moved.pdf');
    expect(cdnHits).not.toContain('/internal.pdf');
  });

  it('files over MAX_MEDIA_BYTES, announced or streamed without a length; a small one in the same message is attached', async () => {
    const big = h.vk.addFile('/doc/big.pdf', new Uint8Array(MAX_MEDIA_BYTES * 2), 'application/pdf');
    routes.set('/endless.pdf', (res) => {
      res.writeHead(200, { 'content-type': 'application/pdf' });
      const chunk = Buffer.alloc(16 * 1024);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', pump);
      pump();
    });
    const small = h.vk.addFile('/doc/small.pdf', new TextEncoder().encode('%PDF small'), 'application/pdf');
    const c = await sendFilesThenText(512349304, [
      { title: 'big.pdf', url: big },
      { title: 'endless.pdf', url: `${cdn.origin}/endless.pdf` },
      { title: 'small.pdf', url: small },
    ]);
    expect(c.attachments.map((a: any) => a.filename)).toEqual(['small.pdf']);
    expect(c.text.split('\n')).toEqual([
      'файл во вложении',
      '[taskwire: document "big.pdf" was not downloaded and is not attached — the file is 200,000 bytes, more than MAX_MEDIA_BYTES (100,000 bytes)]',
      '[taskwire: document "endless.pdf" was not downloaded and is not attached — the file is larger than MAX_MEDIA_BYTES (100,000 bytes)]',
    ]);
  });

  it('a server that answers 500 for ever is tried MEDIA_FETCH_ATTEMPTS times, then named with the last error', async () => {
    routes.set('/flaky.pdf', (res) => res.writeHead(500).end('oops'));
    const c = await sendFilesThenText(512349305, [{ title: 'flaky.pdf', url: `${cdn.origin}/flaky.pdf` }]);
    expect(c.attachments).toEqual([]);
    expect(c.text).toContain(
      `[taskwire: document "flaky.pdf" was not downloaded and is not attached — still failing after ${MEDIA_FETCH_ATTEMPTS} tries (last error: VK download: HTTP 500)]`,
    );
    expect(cdnHits.filter((p) => p === '/flaky.pdf')).toHaveLength(MEDIA_FETCH_ATTEMPTS);
  });
});

describe('allowed files still arrive', () => {
  it('VK: a document behind a same-host redirect is attached byte for byte', async () => {
    const bytes = new TextEncoder().encode('%PDF-1.4 накладная');
    h.vk.addFile('/psv4/nakladnaya.pdf', bytes, 'application/pdf');
    const url = h.vk.addRedirect('/doc512349306_1', '/psv4/nakladnaya.pdf');
    const c = await sendFilesThenText(512349306, [{ title: 'nakladnaya.pdf', url }]);
    expect(c.text).toBe('файл во вложении');
    expect(c.attachments.map((a: any) => a.filename)).toEqual(['nakladnaya.pdf']);
    const res = await h.app.request(c.attachments[0].url, { headers: { authorization: `Bearer ${h.ownerToken}` } });
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
  });

  it('WhatsApp: a document is downloaded through the media API and attached byte for byte', async () => {
    const from = '79169990301';
    const pdf = new TextEncoder().encode('%PDF-1.7 счёт');
    const m = h.graph.addMedia('990000301', pdf, 'application/pdf');
    const hook = mediaWebhook({ from, kind: 'document', mediaId: m.id, mimeType: 'application/pdf', url: m.url, filename: 'schet.pdf', caption: 'счёт' });
    expect((await h.postWa(hook)).status).toBe(200);
    const [c] = await commentsOfPeer('whatsapp', from, 1);
    expect(c.text).toBe('счёт');
    expect(c.attachments[0]).toMatchObject({ filename: 'schet.pdf', mimeType: 'application/pdf' });
    const res = await h.app.request(c.attachments[0].url, { headers: { authorization: `Bearer ${h.ownerToken}` } });
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(pdf);
  });
});
