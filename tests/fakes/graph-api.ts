/**
 * A loopback fake of the WhatsApp Cloud API (Graph) that follows shared/reference/whatsapp-cloud-api.md:
 * `Authorization: Bearer` on every call (a wrong token is 401 with the code-190 envelope), JSON
 * `POST /<pnid>/messages` validated against §4 (types, one of id/link, captions only on image / video /
 * document, length limits, templates, context, `biz_opaque_callback_data`), multipart
 * `POST /<pnid>/media` (§8.2), `GET /<media-id>` → a short-lived CDN URL (§8.1) served by the same
 * server and requiring the token, and the Graph error envelope (§9.1) for everything it refuses.
 * Everything is recorded for assertions; errors, HTTP failures, delays and in-flight holds can be
 * injected per kind of call.
 *
 * Also: builders for webhook bodies (inbound messages, statuses, echoes) and `signedWebhook`, which
 * encodes a body the way Meta's encoder does (`\uXXXX` for non-ASCII, `\/`) and signs the exact bytes.
 *
 * Tests wait on recorded state with `waitFor`, never with sleeps.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type http from 'node:http';
import { createGates, listenOnLoopback, pollUntil, readBody, sendJson as sendJsonBase, sendText, toRequest, type FakeHold } from './common.js';

/** Identity used by the fixtures (tests/fixtures/whatsapp/README.md). */
export const FAKE_WABA_ID = '102290129340398';
export const FAKE_PHONE_NUMBER_ID = '106540352242922';
export const FAKE_DISPLAY_PHONE_NUMBER = '15550783881';

export type FakeGraphKind = 'messages' | 'media' | 'media-info' | 'media-delete' | 'cdn' | 'other';

export interface FakeGraphTemplate {
  name: string;
  language: string;
  /** Positional body parameters the approved template expects. */
  bodyParameters: number;
}

export interface FakeGraphOptions {
  /** The system-user token the fake accepts (default `wa-test-token`). */
  accessToken?: string;
  /** Phone number ids of the WABA (default the fixtures' `106540352242922`). */
  phoneNumberIds?: string[];
  /** Version path segment (default `v21.0`). */
  version?: string;
  /** When given, template sends are checked against these (132001 unknown, 132000 parameter count). */
  templates?: FakeGraphTemplate[];
}

export interface FakeGraphCall {
  method: string;
  /** Path without the version prefix, e.g. `/106540352242922/messages`. */
  path: string;
  kind: FakeGraphKind;
  authorized: boolean;
  userAgent?: string;
  query: Record<string, string>;
  at: number;
}

export interface FakeGraphSent {
  wamid: string;
  phoneNumberId: string;
  /** `to` as the client sent it (e.g. `+79161234567`). */
  to: string;
  /** The normalised recipient (digits). */
  waId: string;
  type: string;
  text?: string;
  previewUrl?: boolean;
  caption?: string;
  mediaId?: string;
  link?: string;
  filename?: string;
  voice?: boolean;
  template?: { name: string; language: string; bodyParameters: string[]; components?: unknown[] };
  reaction?: { message_id: string; emoji: string };
  context?: { message_id: string };
  bizOpaqueCallbackData?: string;
  /** The request body as received. */
  body: Record<string, unknown>;
  at: number;
}

export interface FakeGraphUpload {
  id: string;
  phoneNumberId: string;
  /** The `type` form field. */
  type: string;
  filename: string;
  /** The file part's own Content-Type. */
  fileType: string;
  bytes: Uint8Array;
}

export interface FakeGraphMedia {
  id: string;
  bytes: Uint8Array;
  mimeType: string;
  /** Owner for `?phone_number_id=` checks; undefined = any. */
  phoneNumberId?: string;
  uploaded: boolean;
}

export interface FakeGraphDownload {
  mediaId?: string;
  status: number;
  authorized: boolean;
  userAgent?: string;
}

/** `release()` lets the request go on: it is processed then (Meta got it, even if the client is gone) and answered. */
export type FakeGraphHold = FakeHold;

export interface FakeGraphFailOptions {
  /** HTTP status of the envelope answer (default 400; 401 for code 190). */
  httpStatus?: number;
  /** `Retry-After` header value in seconds. */
  retryAfter?: number;
}

export interface FakeGraph {
  /** `http://127.0.0.1:P/v21.0` – the adapter's `baseUrl`. */
  baseUrl: string;
  /** `http://127.0.0.1:P` */
  origin: string;
  version: string;
  accessToken: string;
  phoneNumberIds: string[];
  calls: FakeGraphCall[];
  sent: FakeGraphSent[];
  uploads: FakeGraphUpload[];
  downloads: FakeGraphDownload[];
  /** Mark-as-read posts (`{status: "read", message_id}`). */
  readReceipts: Array<{ phoneNumberId: string; messageId: string; typing: boolean }>;
  /** Serve inbound media under `id`; returns the webhook-style `url` and the base64 sha256 a webhook carries. */
  addMedia(id: string, bytes: Uint8Array, mimeType: string, opts?: { phoneNumberId?: string }): { id: string; url: string; sha256: string };
  media(id: string): FakeGraphMedia | undefined;
  /** Every CDN URL issued so far answers 404 from now on (as after the 5-minute expiry). */
  expireMediaUrls(): void;
  /**
   * The next `times` calls of `kind` (or of this exact path, without the version) answer with the
   * Graph error envelope for `code` (HTTP 400, 401 for 190, or `opts.httpStatus`).
   */
  failNext(kindOrPath: FakeGraphKind | string, code: number, times?: number, opts?: FakeGraphFailOptions): void;
  /** The next `times` calls answer with this HTTP status and a non-JSON body (e.g. 502 from a proxy). */
  failNextHttp(kindOrPath: FakeGraphKind | string, status: number, times?: number, opts?: { retryAfter?: number }): void;
  /** The next call of `kind` is answered after `ms`. */
  delayNext(kindOrPath: FakeGraphKind | string, ms: number): void;
  /** Hold the next call of `kind` until `release()`. */
  holdNext(kindOrPath: FakeGraphKind | string): FakeGraphHold;
  /** Sends to this recipient (digits) answer `code` (e.g. 131026 not on WhatsApp, 131047 window closed); null clears. */
  setRecipientError(waId: string, code: number | null): void;
  /** Polls until `predicate()` is truthy; rejects after `timeoutMs` (default 5 s). */
  waitFor<T>(predicate: () => T | undefined | null | false, timeoutMs?: number, what?: string): Promise<T>;
  callCount(kind: FakeGraphKind): number;
  /** Forget recorded state, injected failures, holds and recipient errors (media stays). */
  reset(): void;
  stop(): Promise<void>;
}

interface ErrorSpec {
  title: string;
  details?: string;
  subcode?: number;
}

/** §9.2 / api-responses.md titles. `message` in the envelope is `(#code) title`. */
const ERRORS: Record<number, ErrorSpec> = {
  0: { title: 'AuthException' },
  1: { title: 'An unknown error occurred' },
  2: { title: 'Service temporarily unavailable' },
  3: { title: 'Capability or permissions issue' },
  4: { title: 'Application request limit reached' },
  10: { title: 'Permission denied' },
  100: { title: 'Invalid parameter' },
  190: { title: 'Invalid OAuth access token - Cannot parse access token' },
  368: { title: 'Temporarily blocked for policies violations' },
  80007: { title: 'Rate limit issues' },
  130403: { title: 'Recipient is blocked by the business' },
  130429: { title: 'Rate limit hit', details: 'Cloud API message throughput has been reached.', subcode: 2494055 },
  131000: { title: 'Something went wrong' },
  131005: { title: 'Access denied' },
  131008: { title: 'Required parameter is missing' },
  131009: { title: 'Parameter value is not valid' },
  131016: { title: 'Service unavailable' },
  131021: { title: 'Recipient cannot be sender' },
  131026: { title: 'Message undeliverable', details: 'Unable to deliver message. Reasons can include: the recipient phone number is not a WhatsApp phone number.' },
  131031: { title: 'Business Account locked' },
  131042: { title: 'Business eligibility payment issue' },
  131047: {
    title: 'Re-engagement message',
    details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
  },
  131048: { title: 'Spam rate limit hit' },
  131049: { title: 'Meta chose not to deliver.' },
  131050: { title: 'User has stopped marketing messages' },
  131051: { title: 'Unsupported message type' },
  131052: { title: 'Media download error' },
  131053: { title: 'Media upload error' },
  131056: {
    title: '(Business Account, Consumer Account) pair rate limit hit',
    details: 'Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.',
  },
  131057: { title: 'Account in maintenance mode' },
  132000: { title: 'Number of parameters does not match the expected number of params' },
  132001: { title: 'Template name does not exist in the translation' },
  132015: { title: 'Template is paused' },
  133004: { title: 'Server temporarily unavailable' },
  133010: { title: 'Phone number not registered' },
};

class GraphError extends Error {
  constructor(
    readonly code: number,
    readonly details?: string,
    readonly httpStatus?: number,
    readonly subcode?: number,
  ) {
    super(ERRORS[code]?.title ?? 'Error');
  }
}

const MB = 1024 * 1024;
/** §8.3. */
const SEND_RULES: Record<string, { mimes?: Set<string>; max: number; caption: boolean }> = {
  image: { mimes: new Set(['image/jpeg', 'image/png']), max: 5 * MB, caption: true },
  video: { mimes: new Set(['video/mp4', 'video/3gpp']), max: 16 * MB, caption: true },
  audio: { mimes: new Set(['audio/aac', 'audio/amr', 'audio/mpeg', 'audio/mp4', 'audio/ogg']), max: 16 * MB, caption: false },
  sticker: { mimes: new Set(['image/webp']), max: 500 * 1024, caption: false },
  document: { max: 100 * MB, caption: true },
};
const MESSAGE_TYPES = new Set(['text', 'image', 'video', 'audio', 'document', 'sticker', 'template', 'reaction', 'interactive', 'location', 'contacts']);

type Failure = { kind: 'graph'; code: number; httpStatus?: number; retryAfter?: number } | { kind: 'http'; status: number; retryAfter?: number };

export async function startFakeGraph(opts: FakeGraphOptions = {}): Promise<FakeGraph> {
  const accessToken = opts.accessToken ?? 'wa-test-token';
  const version = opts.version ?? 'v21.0';
  const phoneNumberIds = opts.phoneNumberIds ?? [FAKE_PHONE_NUMBER_ID];
  const templates = opts.templates;

  const store = new Map<string, FakeGraphMedia>();
  /** CDN hash → media id; expired hashes answer 404. */
  const issued = new Map<string, { mediaId: string; expired: boolean }>();
  const gates = createGates<Failure>();
  const recipientErrors = new Map<string, number>();

  const server = await listenOnLoopback(handle);
  const origin = server.origin;

  function issueUrl(mediaId: string): string {
    const hash = `AT${randomBytes(18).toString('base64url')}`;
    issued.set(hash, { mediaId, expired: false });
    const ext = Math.floor(Date.now() / 1000) + 300;
    return `${origin}/cdn/whatsapp_business/attachments/?mid=${encodeURIComponent(mediaId)}&ext=${ext}&hash=${encodeURIComponent(hash)}`;
  }

  const fake: FakeGraph = {
    baseUrl: `${origin}/${version}`,
    origin,
    version,
    accessToken,
    phoneNumberIds,
    calls: [],
    sent: [],
    uploads: [],
    downloads: [],
    readReceipts: [],
    addMedia(id, bytes, mimeType, o = {}) {
      store.set(id, { id, bytes: new Uint8Array(bytes), mimeType, uploaded: false, ...(o.phoneNumberId ? { phoneNumberId: o.phoneNumberId } : {}) });
      return { id, url: issueUrl(id), sha256: createHash('sha256').update(bytes).digest('base64') };
    },
    media: (id) => store.get(id),
    expireMediaUrls() {
      for (const v of issued.values()) v.expired = true;
    },
    failNext(kindOrPath, code, times = 1, o = {}) {
      gates.failNext(kindOrPath, { kind: 'graph', code, httpStatus: o.httpStatus, retryAfter: o.retryAfter }, times);
    },
    failNextHttp(kindOrPath, status, times = 1, o = {}) {
      gates.failNext(kindOrPath, { kind: 'http', status, retryAfter: o.retryAfter }, times);
    },
    delayNext: (kindOrPath, ms) => gates.delayNext(kindOrPath, ms),
    holdNext: (kindOrPath) => gates.holdNext(kindOrPath),
    setRecipientError(waId, code) {
      const digits = waId.replace(/\D/g, '');
      if (code === null) recipientErrors.delete(digits);
      else recipientErrors.set(digits, code);
    },
    waitFor: (predicate, timeoutMs, what) => pollUntil(predicate, timeoutMs, what, 'fake Graph'),
    callCount(kind) {
      return fake.calls.filter((c) => c.kind === kind).length;
    },
    reset() {
      fake.calls.length = 0;
      fake.sent.length = 0;
      fake.uploads.length = 0;
      fake.downloads.length = 0;
      fake.readReceipts.length = 0;
      gates.clear();
      recipientErrors.clear();
    },
    async stop() {
      gates.releaseAll();
      await server.close();
    },
  };

  // -------------------------------------------------------------------------------------------

  /** Delay, then hold; injected entries for this call's path come before those for its kind. */
  async function gate(kind: FakeGraphKind, path: string): Promise<(() => void) | undefined> {
    await gates.passDelay(path, kind);
    return gates.passHold(path, kind);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    const body = await readBody(req);
    const bearer = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
    const authorized = bearer === accessToken;
    const userAgent = typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : undefined;

    if (url.pathname.startsWith('/cdn/')) return serveCdn(url, req, res, authorized, userAgent);

    const prefix = `/${version}/`;
    if (!url.pathname.startsWith(prefix)) {
      return sendJson(res, 400, envelope(new GraphError(100, `Unknown path components: ${url.pathname}`)));
    }
    const path = `/${url.pathname.slice(prefix.length)}`;
    const segments = path.split('/').filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? 'GET';
    const kind: FakeGraphKind =
      method === 'POST' && segments.length === 2 && segments[1] === 'messages' ? 'messages'
      : method === 'POST' && segments.length === 2 && segments[1] === 'media' ? 'media'
      : method === 'GET' && segments.length === 1 ? 'media-info'
      : method === 'DELETE' && segments.length === 1 ? 'media-delete'
      : 'other';
    fake.calls.push({ method, path, kind, authorized, ...(userAgent ? { userAgent } : {}), query: Object.fromEntries(url.searchParams), at: Date.now() });

    const done = await gate(kind, path);
    try {
      const failure = gates.takeFailure(path, kind);
      if (failure?.kind === 'http') {
        const headers: Record<string, string> = failure.retryAfter !== undefined ? { 'retry-after': String(failure.retryAfter) } : {};
        return sendText(res, failure.status, `<html><body>${failure.status}</body></html>`, 'text/html', headers);
      }
      if (failure?.kind === 'graph') {
        const headers: Record<string, string> = failure.retryAfter !== undefined ? { 'retry-after': String(failure.retryAfter) } : {};
        const e = new GraphError(failure.code, undefined, failure.httpStatus);
        return sendJson(res, e.httpStatus ?? (e.code === 190 ? 401 : 400), envelope(e), headers);
      }
      if (!authorized) return sendJson(res, 401, envelope(new GraphError(190)));

      let answer: unknown;
      try {
        answer = await route(kind, segments, url, req, body);
      } catch (err) {
        if (err instanceof GraphError) return sendJson(res, err.httpStatus ?? (err.code === 190 ? 401 : 400), envelope(err));
        throw err;
      }
      return sendJson(res, 200, answer);
    } finally {
      done?.();
    }
  }

  async function route(kind: FakeGraphKind, segments: string[], url: URL, req: http.IncomingMessage, body: Buffer): Promise<unknown> {
    switch (kind) {
      case 'messages':
        return postMessage(requirePhoneNumber(segments[0]!, 'post'), req, body);
      case 'media':
        return uploadMedia(requirePhoneNumber(segments[0]!, 'post'), req, body);
      case 'media-info': {
        const m = store.get(segments[0]!);
        const owner = url.searchParams.get('phone_number_id');
        if (!m || (owner && m.phoneNumberId && owner !== m.phoneNumberId)) throw unknownObject(segments[0]!, 'get');
        return {
          messaging_product: 'whatsapp',
          url: issueUrl(m.id),
          mime_type: m.mimeType,
          sha256: createHash('sha256').update(m.bytes).digest('hex'),
          file_size: m.bytes.byteLength,
          id: m.id,
        };
      }
      case 'media-delete': {
        if (!store.delete(segments[0]!)) throw unknownObject(segments[0]!, 'delete');
        return { success: true };
      }
      default:
        throw new GraphError(100, `Unsupported ${(req.method ?? 'get').toLowerCase()} request.`);
    }
  }

  function requirePhoneNumber(id: string, verb: string): string {
    if (!phoneNumberIds.includes(id)) throw unknownObject(id, verb);
    return id;
  }

  function postMessage(pnid: string, req: http.IncomingMessage, raw: Buffer): unknown {
    const ct = String(req.headers['content-type'] ?? '').toLowerCase();
    if (!ct.startsWith('application/json')) throw new GraphError(100, 'The parameter messaging_product is required.');
    let b: Record<string, unknown>;
    try {
      const parsed = JSON.parse(raw.toString('utf8')) as unknown;
      if (!isObject(parsed)) throw new Error('not an object');
      b = parsed;
    } catch {
      throw new GraphError(100, 'Invalid JSON body');
    }
    if (b.messaging_product === undefined) throw new GraphError(100, 'The parameter messaging_product is required.');
    if (b.messaging_product !== 'whatsapp') throw new GraphError(100, `Param messaging_product must be one of {WHATSAPP} - got "${String(b.messaging_product)}".`);

    // §4.3 mark as read.
    if (b.status === 'read') {
      if (typeof b.message_id !== 'string' || !b.message_id) throw new GraphError(100, 'The parameter message_id is required.');
      fake.readReceipts.push({ phoneNumberId: pnid, messageId: b.message_id, typing: isObject(b.typing_indicator) });
      return { success: true };
    }

    if (b.recipient_type !== undefined && b.recipient_type !== 'individual') {
      throw new GraphError(100, `Param recipient_type must be one of {INDIVIDUAL} - got "${String(b.recipient_type)}".`);
    }
    if (typeof b.to !== 'string' || b.to.trim() === '') throw new GraphError(100, 'The parameter to is required.');
    // §11.1: `+`, spaces, hyphens and parentheses are accepted.
    if (!/^\+?[\d\s\-()]+$/.test(b.to)) throw new GraphError(131009, 'Recipient phone number not valid');
    const waId = b.to.replace(/\D/g, '');
    if (waId.length < 7 || waId.length > 15) throw new GraphError(131009, 'Recipient phone number not valid');
    if (waId === FAKE_DISPLAY_PHONE_NUMBER) throw new GraphError(131021);

    const type = b.type === undefined ? 'text' : b.type;
    if (typeof type !== 'string' || !MESSAGE_TYPES.has(type)) throw new GraphError(100, `Param type must be one of the supported types - got "${String(type)}".`);
    const obj = b[type];
    if (!isObject(obj)) throw new GraphError(100, `The parameter ${type} is required.`);

    let context: { message_id: string } | undefined;
    if (b.context !== undefined) {
      if (type === 'reaction') throw new GraphError(100, 'A reaction cannot be sent as a reply.');
      if (!isObject(b.context) || typeof b.context.message_id !== 'string' || !b.context.message_id) {
        throw new GraphError(100, "The parameter context['message_id'] is required.");
      }
      context = { message_id: b.context.message_id };
    }
    let callbackData: string | undefined;
    if (b.biz_opaque_callback_data !== undefined) {
      if (typeof b.biz_opaque_callback_data !== 'string') throw new GraphError(100, 'Param biz_opaque_callback_data must be a string.');
      if (b.biz_opaque_callback_data.length > 512) throw new GraphError(100, 'Param biz_opaque_callback_data must be at most 512 characters long.');
      callbackData = b.biz_opaque_callback_data;
    }

    const sent: FakeGraphSent = {
      wamid: newWamid(waId),
      phoneNumberId: pnid,
      to: b.to,
      waId,
      type,
      ...(context ? { context } : {}),
      ...(callbackData !== undefined ? { bizOpaqueCallbackData: callbackData } : {}),
      body: b,
      at: Date.now(),
    };

    if (type === 'text') {
      if (typeof obj.body !== 'string' || obj.body === '') throw new GraphError(100, "The parameter text['body'] is required.");
      if (obj.body.length > 4096) throw new GraphError(100, "Param text['body'] must be at most 4096 characters long.");
      if (obj.preview_url !== undefined && typeof obj.preview_url !== 'boolean') throw new GraphError(100, "Param text['preview_url'] must be a boolean.");
      sent.text = obj.body;
      if (typeof obj.preview_url === 'boolean') sent.previewUrl = obj.preview_url;
    } else if (SEND_RULES[type]) {
      checkMedia(type, obj, sent);
    } else if (type === 'template') {
      checkTemplate(obj, sent);
    } else if (type === 'reaction') {
      if (typeof obj.message_id !== 'string' || !obj.message_id) throw new GraphError(100, "The parameter reaction['message_id'] is required.");
      if (typeof obj.emoji !== 'string') throw new GraphError(100, "The parameter reaction['emoji'] is required.");
      sent.reaction = { message_id: obj.message_id, emoji: obj.emoji };
    }

    const peerError = recipientErrors.get(waId);
    if (peerError !== undefined) throw new GraphError(peerError);

    fake.sent.push(sent);
    return {
      messaging_product: 'whatsapp',
      contacts: [{ input: b.to, wa_id: waId }],
      // §4.1: message_status only for templates (pacing).
      messages: [{ id: sent.wamid, ...(type === 'template' ? { message_status: 'accepted' } : {}) }],
    };
  }

  function checkMedia(type: string, obj: Record<string, unknown>, sent: FakeGraphSent): void {
    const rule = SEND_RULES[type]!;
    const hasId = obj.id !== undefined;
    const hasLink = obj.link !== undefined;
    if (hasId === hasLink) throw new GraphError(100, `Please specify one of ${type}['id'] or ${type}['link'].`);
    if (obj.caption !== undefined) {
      if (!rule.caption) throw new GraphError(100, `Param ${type}['caption'] is not allowed for ${type} messages.`);
      if (typeof obj.caption !== 'string') throw new GraphError(100, `Param ${type}['caption'] must be a string.`);
      if (obj.caption.length > 1024) throw new GraphError(100, `Param ${type}['caption'] must be at most 1024 characters long.`);
      sent.caption = obj.caption;
    }
    if (obj.filename !== undefined) {
      if (type !== 'document') throw new GraphError(100, `Param ${type}['filename'] is not allowed.`);
      if (typeof obj.filename !== 'string') throw new GraphError(100, "Param document['filename'] must be a string.");
      sent.filename = obj.filename;
    }
    if (obj.voice !== undefined) {
      if (type !== 'audio' || typeof obj.voice !== 'boolean') throw new GraphError(100, `Param ${type}['voice'] is not allowed.`);
      sent.voice = obj.voice;
    }
    if (hasLink) {
      if (typeof obj.link !== 'string' || !/^https?:\/\//.test(obj.link)) throw new GraphError(100, `Param ${type}['link'] must be a valid URL.`);
      sent.link = obj.link;
      return;
    }
    const id = typeof obj.id === 'string' ? obj.id : typeof obj.id === 'number' ? String(obj.id) : '';
    const media = store.get(id);
    if (!media || !media.uploaded) {
      throw new GraphError(100, `Param ${type}['id'] is not a valid whatsapp business account media attachment ID`);
    }
    const mime = media.mimeType.split(';')[0]!.trim().toLowerCase();
    if (rule.mimes && !rule.mimes.has(mime)) throw new GraphError(131053, `${mime} is not a supported ${type} type`);
    if (media.bytes.byteLength > rule.max) throw new GraphError(131053, `${type} is larger than ${rule.max} bytes`);
    if (sent.voice && mime !== 'audio/ogg') throw new GraphError(131053, 'voice messages must be audio/ogg (Opus)');
    sent.mediaId = id;
  }

  function checkTemplate(obj: Record<string, unknown>, sent: FakeGraphSent): void {
    if (typeof obj.name !== 'string' || !obj.name) throw new GraphError(100, "The parameter template['name'] is required.");
    const lang = isObject(obj.language) ? obj.language.code : undefined;
    if (typeof lang !== 'string' || !lang) throw new GraphError(100, "The parameter template['language']['code'] is required.");
    const bodyParameters: string[] = [];
    if (obj.components !== undefined) {
      if (!Array.isArray(obj.components)) throw new GraphError(100, "Param template['components'] must be an array.");
      for (const c of obj.components) {
        if (!isObject(c) || typeof c.type !== 'string') throw new GraphError(100, "Param template['components'][0]['type'] is required.");
        if (c.type !== 'body') continue;
        if (!Array.isArray(c.parameters)) throw new GraphError(100, "Param template['components'][0]['parameters'] must be an array.");
        for (const p of c.parameters) {
          if (!isObject(p) || p.type !== 'text' || typeof p.text !== 'string') throw new GraphError(132012, 'Parameter format does not match format in the created template');
          bodyParameters.push(p.text);
        }
      }
    }
    if (templates) {
      const t = templates.find((x) => x.name === obj.name && x.language === lang);
      if (!t) throw new GraphError(132001, `template name (${obj.name}) does not exist in ${lang}`);
      if (t.bodyParameters !== bodyParameters.length) {
        throw new GraphError(132000, `body: number of localizable_params (${bodyParameters.length}) does not match the expected number of params (${t.bodyParameters})`);
      }
    }
    sent.template = { name: obj.name, language: lang, bodyParameters, ...(Array.isArray(obj.components) ? { components: obj.components } : {}) };
  }

  async function uploadMedia(pnid: string, req: http.IncomingMessage, raw: Buffer): Promise<unknown> {
    const ct = String(req.headers['content-type'] ?? '');
    if (!ct.toLowerCase().startsWith('multipart/form-data')) throw new GraphError(100, 'The parameter messaging_product is required.');
    let fd: FormData;
    try {
      fd = await toRequest(ct, raw).formData();
    } catch {
      throw new GraphError(100, 'Invalid multipart body');
    }
    const product = fd.get('messaging_product');
    if (product !== 'whatsapp') throw new GraphError(100, 'The parameter messaging_product is required.');
    const file = fd.get('file');
    if (file === null || typeof file === 'string') throw new GraphError(100, 'The parameter file is required.');
    const type = fd.get('type');
    if (typeof type !== 'string' || !type) throw new GraphError(100, 'The parameter type is required.');
    const mime = type.split(';')[0]!.trim().toLowerCase();
    const supported =
      Object.values(SEND_RULES).some((r) => r.mimes?.has(mime)) || mime.startsWith('application/') || mime.startsWith('text/');
    if (!supported) throw new GraphError(100, `Param file must be a file with one of the supported types - got "${type}".`);
    const id = String(1_000_000_000_000_000n + BigInt(randomBytes(6).readUIntBE(0, 6)));
    const bytes = new Uint8Array(await file.arrayBuffer());
    store.set(id, { id, bytes, mimeType: type, phoneNumberId: pnid, uploaded: true });
    fake.uploads.push({ id, phoneNumberId: pnid, type, filename: file.name, fileType: file.type, bytes });
    return { id };
  }

  function serveCdn(url: URL, req: http.IncomingMessage, res: http.ServerResponse, authorized: boolean, userAgent: string | undefined): void {
    const hash = url.searchParams.get('hash') ?? '';
    const entry = issued.get(hash);
    const mediaId = entry?.mediaId ?? url.searchParams.get('mid') ?? undefined;
    const record = (status: number) => fake.downloads.push({ ...(mediaId ? { mediaId } : {}), status, authorized, ...(userAgent ? { userAgent } : {}) });
    fake.calls.push({ method: req.method ?? 'GET', path: url.pathname, kind: 'cdn', authorized, ...(userAgent ? { userAgent } : {}), query: Object.fromEntries(url.searchParams), at: Date.now() });

    const failure = gates.takeFailure(url.pathname, 'cdn');
    if (failure) {
      const status = failure.kind === 'http' ? failure.status : (failure.httpStatus ?? 400);
      record(status);
      const headers: Record<string, string> = failure.retryAfter !== undefined ? { 'retry-after': String(failure.retryAfter) } : {};
      if (failure.kind === 'graph') return sendJson(res, status, envelope(new GraphError(failure.code)), headers);
      return sendText(res, status, `status ${status}`, 'text/plain; charset=utf-8', headers);
    }
    // §8.1: without the token the download fails; an expired or unknown URL is a 404.
    if (!authorized) {
      record(401);
      return sendText(res, 401, 'unauthorized');
    }
    const media = entry && !entry.expired ? store.get(entry.mediaId) : undefined;
    if (!media || url.pathname !== '/cdn/whatsapp_business/attachments/') {
      record(404);
      return sendText(res, 404, 'not found');
    }
    record(200);
    res.writeHead(200, { 'content-type': media.mimeType, 'content-length': media.bytes.byteLength });
    res.end(req.method === 'HEAD' ? undefined : Buffer.from(media.bytes));
  }

  return fake;
}

// ---------------------------------------------------------------------------------------------
// Envelopes and helpers

function unknownObject(id: string, verb: string): GraphError {
  return new GraphError(
    100,
    `Unsupported ${verb} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
    400,
    33,
  );
}

/** The §9.1 envelope. */
function envelope(e: GraphError): { error: Record<string, unknown> } {
  const spec = ERRORS[e.code];
  const title = spec?.title ?? 'Error';
  const details = e.details ?? spec?.details;
  const error: Record<string, unknown> = {
    // Token errors carry Graph's own text; WhatsApp errors `(#code) title`.
    message: e.code === 190 ? title : `(#${e.code}) ${title}`,
    type: 'OAuthException',
    code: e.code,
  };
  if (e.code !== 190) error.error_data = { messaging_product: 'whatsapp', details: details ?? title };
  const subcode = e.subcode ?? spec?.subcode ?? (e.code === 190 ? 467 : undefined);
  if (subcode !== undefined) error.error_subcode = subcode;
  error.fbtrace_id = randomBytes(17).toString('base64url').slice(0, 23);
  return { error };
}

/** `wamid.` + base64, shaped like Meta's (opaque to clients). */
export function newWamid(waId = '0'): string {
  const inner = `\x1c\x18${String.fromCharCode(waId.length)}${waId}\x15\x02\x00\x11\x18\x12${randomBytes(9).toString('hex').toUpperCase()}\x00`;
  return `wamid.${Buffer.from(inner, 'latin1').toString('base64')}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Graph writes `charset=UTF-8`. */
function sendJson(res: http.ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  sendJsonBase(res, status, value, { 'content-type': 'application/json; charset=UTF-8', ...headers });
}

// ---------------------------------------------------------------------------------------------
// Webhook bodies

/**
 * JSON the way Meta's encoder writes it (tests/fixtures/whatsapp/README.md): compact, every char
 * outside U+0000–U+007E as `\uXXXX` with lowercase hex (UTF-16 units, so emoji become two escapes),
 * and `/` as `\/`.
 */
export function metaJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/\//g, '\\/');
}

/**
 * A webhook body as raw text plus its `X-Hub-Signature-256` header value (`sha256=<hex>`) for
 * `appSecret`. Objects are encoded like Meta's (`metaJson`) unless `escape: false`; strings are
 * signed as given.
 */
export function signedWebhook(body: object | string, appSecret: string, opts: { escape?: boolean } = {}): { raw: string; signature: string } {
  const raw = typeof body === 'string' ? body : opts.escape === false ? JSON.stringify(body) : metaJson(body);
  return { raw, signature: `sha256=${createHmac('sha256', appSecret).update(raw, 'utf8').digest('hex')}` };
}

export interface WebhookChange {
  field: string;
  value: Record<string, unknown>;
}

/** The §2 envelope around `changes` (one entry). */
export function webhookEnvelope(changes: WebhookChange[], wabaId = FAKE_WABA_ID): Record<string, unknown> {
  return { object: 'whatsapp_business_account', entry: [{ id: wabaId, changes }] };
}

function valueBase(pnid: string): Record<string, unknown> {
  return { messaging_product: 'whatsapp', metadata: { display_phone_number: FAKE_DISPLAY_PHONE_NUMBER, phone_number_id: pnid } };
}

function unixNow(): string {
  return String(Math.floor(Date.now() / 1000));
}

export interface InboundWebhookOptions {
  pnid?: string;
  /** The customer's wa_id (digits). */
  from: string;
  /** Profile name in `contacts[]` (default `Test Customer`; null leaves `contacts[]` out). */
  name?: string | null;
  /** wamid (default a new one). */
  id?: string;
  /** Unix seconds (default now). */
  timestamp?: number | string;
  /** The quoted message (`context.id`). */
  replyTo?: string;
}

/** An inbound `messages` webhook with one message: `message` is `{type, <type>: {...}}`. */
export function messageWebhook(o: InboundWebhookOptions & { message: Record<string, unknown> }): Record<string, unknown> {
  const pnid = o.pnid ?? FAKE_PHONE_NUMBER_ID;
  const msg: Record<string, unknown> = {
    ...(o.replyTo ? { context: { from: FAKE_DISPLAY_PHONE_NUMBER, id: o.replyTo } } : {}),
    from: o.from,
    id: o.id ?? newWamid(o.from),
    timestamp: String(o.timestamp ?? unixNow()),
    ...o.message,
  };
  const value = {
    ...valueBase(pnid),
    ...(o.name === null ? {} : { contacts: [{ profile: { name: o.name ?? 'Test Customer' }, wa_id: o.from }] }),
    messages: [msg],
  };
  return webhookEnvelope([{ field: 'messages', value }]);
}

export function textWebhook(o: InboundWebhookOptions & { text: string }): Record<string, unknown> {
  return messageWebhook({ ...o, message: { type: 'text', text: { body: o.text } } });
}

export function mediaWebhook(
  o: InboundWebhookOptions & {
    kind: 'image' | 'video' | 'audio' | 'document' | 'sticker';
    mediaId: string;
    mimeType: string;
    url?: string;
    sha256?: string;
    caption?: string;
    filename?: string;
    voice?: boolean;
  },
): Record<string, unknown> {
  const media: Record<string, unknown> = {
    ...(o.caption !== undefined ? { caption: o.caption } : {}),
    ...(o.filename !== undefined ? { filename: o.filename } : {}),
    mime_type: o.mimeType,
    sha256: o.sha256 ?? randomBytes(32).toString('base64'),
    id: o.mediaId,
    ...(o.url ? { url: o.url } : {}),
    ...(o.voice !== undefined ? { voice: o.voice } : {}),
  };
  return messageWebhook({ ...o, message: { type: o.kind, [o.kind]: media } });
}

export function reactionWebhook(o: InboundWebhookOptions & { messageId: string; emoji?: string }): Record<string, unknown> {
  return messageWebhook({ ...o, message: { type: 'reaction', reaction: { message_id: o.messageId, ...(o.emoji !== undefined ? { emoji: o.emoji } : {}) } } });
}

/** A `statuses[]` webhook (§5) for a message we sent. */
export function statusWebhook(o: {
  pnid?: string;
  wamid: string;
  status: 'sent' | 'delivered' | 'read' | 'played' | 'failed' | (string & {});
  recipientId: string;
  errorCode?: number;
  timestamp?: number | string;
  bizOpaqueCallbackData?: string;
}): Record<string, unknown> {
  const status: Record<string, unknown> = {
    id: o.wamid,
    status: o.status,
    timestamp: String(o.timestamp ?? unixNow()),
    recipient_id: o.recipientId,
    ...(o.bizOpaqueCallbackData !== undefined ? { biz_opaque_callback_data: o.bizOpaqueCallbackData } : {}),
  };
  if (o.status === 'sent' || o.status === 'delivered') {
    status.pricing = { billable: true, pricing_model: 'PMP', category: 'service', type: 'free_customer_service' };
  }
  if (o.errorCode !== undefined) {
    const spec = ERRORS[o.errorCode];
    const title = spec?.title ?? 'Error';
    status.errors = [
      {
        code: o.errorCode,
        title,
        message: title,
        error_data: { details: spec?.details ?? title },
        href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
      },
    ];
  }
  return webhookEnvelope([{ field: 'messages', value: { ...valueBase(o.pnid ?? FAKE_PHONE_NUMBER_ID), statuses: [status] } }]);
}

/** An `smb_message_echoes` webhook (§7.1): a text the business sent from the WhatsApp Business app. */
export function echoWebhook(o: { pnid?: string; to: string; text: string; id?: string; timestamp?: number | string }): Record<string, unknown> {
  const echo = {
    from: FAKE_DISPLAY_PHONE_NUMBER,
    to: o.to,
    id: o.id ?? newWamid(o.to),
    timestamp: String(o.timestamp ?? unixNow()),
    type: 'text',
    text: { body: o.text },
  };
  return webhookEnvelope([{ field: 'smb_message_echoes', value: { ...valueBase(o.pnid ?? FAKE_PHONE_NUMBER_ID), message_echoes: [echo] } }]);
}
