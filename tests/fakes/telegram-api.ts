/**
 * A loopback fake of the Telegram Bot API that follows shared/reference/telegram-bot-api.md:
 * `{base}/bot<token>/<method>` (POST or GET; JSON, form-encoded or multipart parameters), answers in
 * the `{ok, result}` / `{ok: false, error_code, description, parameters}` envelope with the HTTP
 * status equal to `error_code`; a wrong token is `401 Unauthorized`, a token without a bot id
 * `404 Not Found`. Served: getMe, setWebhook / deleteWebhook / getWebhookInfo, getChat, getFile (a
 * file over 20 MB answers `400 Bad Request: file is too big`), file downloads at
 * `{base}/file/bot<token>/<file_path>`, sendMessage, sendPhoto / sendDocument / sendVoice / sendVideo /
 * sendAudio (multipart uploads or a file_id), editMessageText / editMessageCaption (`message is not
 * modified` when nothing changes). Chats marked blocked, deactivated or never started answer 403.
 *
 * Everything is recorded per chat for assertions; envelope errors (429 with `retry_after`, 5xx),
 * bare HTTP failures, delays and in-flight holds can be injected per method (`file` for downloads).
 * Also: builders of `Update` payloads for webhook tests (`tgUpdates`).
 *
 * Tests wait on recorded state with `waitFor`, never with sleeps.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { createGates, listenOnLoopback, pollUntil, readBody, sendJson, sendText, toRequest, type FakeHold } from './common.js';

export const FAKE_BOT_ID = 7000000001;
export const FAKE_BOT_USERNAME = 'taskwire_test_bot';
const MB = 1024 * 1024;

export interface FakeTelegramCall {
  method: string;
  authorized: boolean;
  at: number;
}

export interface FakeTelegramUpload {
  field: string;
  filename: string;
  mimeType: string;
  bytes: Uint8Array;
}

/** A message the bot sent (or an inbound one noted with `noteInbound`). */
export interface FakeTelegramMessage {
  chatId: string;
  messageId: number;
  method: string;
  text?: string;
  caption?: string;
  upload?: FakeTelegramUpload;
  /** A file sent again by its file_id. */
  fileId?: string;
  replyTo?: number;
  params: Record<string, unknown>;
  fromBot: boolean;
  at: number;
}

export interface FakeTelegramEdit {
  chatId: string;
  messageId: number;
  method: 'editMessageText' | 'editMessageCaption';
  text: string;
  at: number;
}

export interface FakeTelegramFailure {
  /** `error_code` and HTTP status. */
  code: number;
  description: string;
  retryAfter?: number;
}

export type ChatState = 'blocked' | 'deactivated' | 'never_started';

export interface FakeTelegram {
  /** `http://127.0.0.1:P` — the adapter's base URL. */
  baseUrl: string;
  botToken: string;
  calls: FakeTelegramCall[];
  sent: FakeTelegramMessage[];
  edits: FakeTelegramEdit[];
  downloads: Array<{ filePath: string; status: number }>;
  webhook: { url: string; secretToken?: string; allowedUpdates?: string[] } | undefined;
  /** Serve a file under a new file_id. `size` alone declares a file that large (no bytes kept) — for the 20 MB limit. */
  addFile(opts: { bytes?: Uint8Array; size?: number; dir?: string; ext?: string }): { fileId: string; fileUniqueId: string; size: number };
  /** Profiles getChat answers with. */
  addUser(user: { id: number; first_name: string; last_name?: string; username?: string }): void;
  /** Sends to this chat answer 403 (`null` clears). */
  setChatState(chatId: number | string, state: ChatState | null): void;
  /** Messages in this chat the user sent, so replies to them are known. */
  noteInbound(chatId: number | string, messageId: number): void;
  sentTo(chatId: number | string): FakeTelegramMessage[];
  failNext(method: string, failure: FakeTelegramFailure, times?: number): void;
  /** The next call answers this HTTP status with an HTML body (a proxy in the way). */
  failNextHttp(method: string, status: number, times?: number): void;
  delayNext(method: string, ms: number): void;
  holdNext(method: string): FakeHold;
  callCount(method: string): number;
  waitFor<T>(predicate: () => T | undefined | null | false, timeoutMs?: number, what?: string): Promise<T>;
  /** Forget recorded state, injected failures and chat states (files, users and the webhook stay). */
  reset(): void;
  stop(): Promise<void>;
}

type Failure = ({ kind: 'envelope' } & FakeTelegramFailure) | { kind: 'http'; status: number };

/** Thrown inside a handler: answered as the error envelope. */
class TgError extends Error {
  constructor(
    readonly code: number,
    readonly description: string,
    readonly parameters?: Record<string, unknown>,
  ) {
    super(description);
  }
}

const bad = (what: string) => new TgError(400, `Bad Request: ${what}`);
const FORBIDDEN: Record<ChatState, string> = {
  blocked: 'Forbidden: bot was blocked by the user',
  deactivated: 'Forbidden: user is deactivated',
  never_started: "Forbidden: bot can't initiate conversation with a user",
};
const FILE_METHODS: Record<string, string> = { sendPhoto: 'photo', sendDocument: 'document', sendVoice: 'voice', sendVideo: 'video', sendAudio: 'audio' };

export async function startFakeTelegram(opts: { botToken?: string } = {}): Promise<FakeTelegram> {
  const botToken = opts.botToken ?? `${FAKE_BOT_ID}:AAF${randomBytes(24).toString('base64url')}`;
  const gates = createGates<Failure>();
  const files = new Map<string, { uniqueId: string; size: number; bytes?: Uint8Array; path: string }>();
  const users = new Map<string, { id: number; first_name: string; last_name?: string; username?: string }>();
  const chatStates = new Map<string, ChatState>();
  const inbound = new Set<string>();
  const nextId = new Map<string, number>();
  const server = await listenOnLoopback(handle);

  const fake: FakeTelegram = {
    baseUrl: server.origin,
    botToken,
    calls: [],
    sent: [],
    edits: [],
    downloads: [],
    webhook: undefined,
    addFile(o) {
      const fileId = `AgAC${randomBytes(18).toString('base64url')}`;
      const fileUniqueId = `AQAD${randomBytes(6).toString('base64url')}`;
      const size = o.size ?? o.bytes?.byteLength ?? 0;
      const path = `${o.dir ?? 'documents'}/file_${files.size}${o.ext ?? ''}`;
      files.set(fileId, { uniqueId: fileUniqueId, size, path, ...(o.bytes ? { bytes: new Uint8Array(o.bytes) } : {}) });
      return { fileId, fileUniqueId, size };
    },
    addUser: (u) => void users.set(String(u.id), u),
    setChatState(chatId, state) {
      if (state === null) chatStates.delete(String(chatId));
      else chatStates.set(String(chatId), state);
    },
    noteInbound: (chatId, messageId) => void inbound.add(`${chatId}:${messageId}`),
    sentTo: (chatId) => fake.sent.filter((m) => m.chatId === String(chatId)),
    failNext: (method, f, times = 1) => gates.failNext(method, { kind: 'envelope', ...f }, times),
    failNextHttp: (method, status, times = 1) => gates.failNext(method, { kind: 'http', status }, times),
    delayNext: (method, ms) => gates.delayNext(method, ms),
    holdNext: (method) => gates.holdNext(method),
    callCount: (method) => fake.calls.filter((c) => c.method === method).length,
    waitFor: (predicate, timeoutMs, what) => pollUntil(predicate, timeoutMs, what, 'fake Telegram'),
    reset() {
      for (const list of [fake.calls, fake.sent, fake.edits, fake.downloads]) list.length = 0;
      chatStates.clear();
      inbound.clear();
      gates.clear();
    },
    async stop() {
      gates.releaseAll();
      await server.close();
    },
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', server.origin);
    const body = await readBody(req);
    const file = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (file) return serveFile(res, file[1]!, decodeURIComponent(file[2]!));
    const m = /^\/bot([^/]*)\/([A-Za-z]+)$/.exec(url.pathname);
    if (!m) return answerError(res, new TgError(404, 'Not Found'));
    const [, token, method] = m as unknown as [string, string, string];
    const authorized = token === botToken;
    fake.calls.push({ method, authorized, at: Date.now() });
    await gates.passDelay(method);
    const done = await gates.passHold(method);
    try {
      const failure = gates.takeFailure(method);
      if (failure?.kind === 'http') return sendText(res, failure.status, `<html><body><h1>${failure.status}</h1></body></html>`, 'text/html');
      if (failure) {
        const params = failure.retryAfter !== undefined ? { retry_after: failure.retryAfter } : undefined;
        return answerError(res, new TgError(failure.code, failure.description, params));
      }
      if (!token.includes(':')) return answerError(res, new TgError(404, 'Not Found'));
      if (!authorized) return answerError(res, new TgError(401, 'Unauthorized'));
      const params = await readParams(req, url, body);
      return sendJson(res, 200, { ok: true, result: await route(method, params) });
    } catch (err) {
      if (err instanceof TgError) return answerError(res, err);
      throw err;
    } finally {
      done?.();
    }
  }

  async function route(method: string, p: Params): Promise<unknown> {
    switch (method) {
      case 'getMe':
        return { id: FAKE_BOT_ID, is_bot: true, first_name: 'Taskwire Test', username: FAKE_BOT_USERNAME, can_join_groups: true };
      case 'setWebhook': {
        const url = str(p.url);
        if (!url) throw bad('bad webhook: An HTTPS URL must be provided for webhook');
        const secret = str(p.secret_token);
        if (secret !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(secret)) throw bad('secret token contains unallowed characters');
        const allowed = typeof p.allowed_updates === 'string' ? (JSON.parse(p.allowed_updates) as string[]) : (p.allowed_updates as string[] | undefined);
        fake.webhook = { url, ...(secret ? { secretToken: secret } : {}), ...(allowed ? { allowedUpdates: allowed } : {}) };
        return true;
      }
      case 'deleteWebhook':
        fake.webhook = undefined;
        return true;
      case 'getWebhookInfo':
        return { url: fake.webhook?.url ?? '', has_custom_certificate: false, pending_update_count: 0 };
      case 'getChat': {
        const u = users.get(chatIdOf(p));
        if (!u) throw bad('chat not found');
        return { id: u.id, type: 'private', first_name: u.first_name, ...(u.last_name ? { last_name: u.last_name } : {}), ...(u.username ? { username: u.username } : {}) };
      }
      case 'getFile': {
        const id = str(p.file_id) ?? '';
        const f = files.get(id);
        if (!f) throw bad('wrong file identifier/HTTP URL specified');
        if (f.size > 20 * MB) throw bad('file is too big');
        return { file_id: id, file_unique_id: f.uniqueId, file_size: f.size, file_path: f.path };
      }
      case 'sendMessage': {
        const chatId = chatIdOf(p);
        const text = str(p.text) ?? '';
        if (!text.trim()) throw bad('message text is empty');
        if (text.length > 4096) throw bad('message is too long');
        return record(chatId, method, p, { text });
      }
      case 'editMessageText':
      case 'editMessageCaption':
        return editMessage(method, p);
      default: {
        const field = FILE_METHODS[method];
        if (!field) throw new TgError(404, 'Not Found');
        return sendFile(method, field, p);
      }
    }
  }

  function sendFile(method: string, field: string, p: Params): unknown {
    const chatId = chatIdOf(p);
    const caption = str(p.caption);
    if (caption !== undefined && caption.length > 1024) throw bad('message caption is too long');
    const v = p[field];
    if (v instanceof File) {
      if (v.size > 50 * MB) throw new TgError(413, 'Request Entity Too Large');
      if (field === 'photo' && v.size > 10 * MB) throw bad('PHOTO_INVALID_DIMENSIONS');
      return v.arrayBuffer().then((buf) =>
        record(chatId, method, p, { ...(caption !== undefined ? { caption } : {}), upload: { field, filename: v.name, mimeType: v.type, bytes: new Uint8Array(buf) } }),
      );
    }
    const fileId = str(v);
    if (!fileId) throw bad(`there is no ${field} in the request`);
    if (!files.has(fileId)) throw bad('wrong file identifier/HTTP URL specified');
    return record(chatId, method, p, { ...(caption !== undefined ? { caption } : {}), fileId });
  }

  function record(chatId: string, method: string, p: Params, content: Partial<FakeTelegramMessage>): unknown {
    const state = chatStates.get(chatId);
    if (state) throw new TgError(403, FORBIDDEN[state]);
    const reply = parseObject(p.reply_parameters);
    const replyTo = typeof reply?.message_id === 'number' ? reply.message_id : undefined;
    if (replyTo !== undefined && !reply?.allow_sending_without_reply && !known(chatId, replyTo)) throw bad('message to be replied not found');
    const messageId = (nextId.get(chatId) ?? 5000) + 1;
    nextId.set(chatId, messageId);
    const msg: FakeTelegramMessage = { chatId, messageId, method, params: p, fromBot: true, at: Date.now(), ...content, ...(replyTo !== undefined ? { replyTo } : {}) };
    fake.sent.push(msg);
    return asMessage(msg);
  }

  function known(chatId: string, messageId: number): boolean {
    return inbound.has(`${chatId}:${messageId}`) || fake.sent.some((m) => m.chatId === chatId && m.messageId === messageId);
  }

  function editMessage(method: 'editMessageText' | 'editMessageCaption', p: Params): unknown {
    const chatId = chatIdOf(p);
    const messageId = Number(p.message_id);
    const msg = fake.sent.find((m) => m.chatId === chatId && m.messageId === messageId);
    if (!msg) throw bad('message to edit not found');
    const isText = method === 'editMessageText';
    const next = str(isText ? p.text : p.caption) ?? '';
    if (isText && msg.text === undefined) throw bad('there is no text in the message to edit');
    if (!isText && msg.text !== undefined) throw bad('there is no caption in the message to edit');
    if (isText && !next.trim()) throw bad('message text is empty');
    if (next.length > (isText ? 4096 : 1024)) throw bad(isText ? 'MESSAGE_TOO_LONG' : 'message caption is too long');
    if (next === (isText ? msg.text : (msg.caption ?? ''))) {
      throw bad('message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message');
    }
    if (isText) msg.text = next;
    else msg.caption = next;
    fake.edits.push({ chatId, messageId, method, text: next, at: Date.now() });
    return { ...asMessage(msg), edit_date: Math.floor(Date.now() / 1000) };
  }

  function asMessage(m: FakeTelegramMessage): Record<string, unknown> {
    const content: Record<string, unknown> = m.text !== undefined ? { text: m.text } : { caption: m.caption };
    const field = FILE_METHODS[m.method];
    const sentFile = { file_id: m.fileId ?? 'uploaded', file_unique_id: 'uploaded' };
    if (field) content[field] = field === 'photo' ? [{ ...sentFile, width: 1, height: 1 }] : sentFile;
    return {
      message_id: m.messageId,
      from: { id: FAKE_BOT_ID, is_bot: true, first_name: 'Taskwire Test', username: FAKE_BOT_USERNAME },
      chat: { id: Number(m.chatId), type: 'private' },
      date: Math.floor(m.at / 1000),
      ...content,
      ...(m.replyTo !== undefined ? { reply_to_message: { message_id: m.replyTo, chat: { id: Number(m.chatId), type: 'private' }, date: 0 } } : {}),
    };
  }

  async function serveFile(res: http.ServerResponse, token: string, filePath: string): Promise<void> {
    fake.calls.push({ method: 'file', authorized: token === botToken, at: Date.now() });
    await gates.passDelay('file');
    const done = await gates.passHold('file');
    try {
      const failure = gates.takeFailure('file');
      const f = [...files.values()].find((x) => x.path === filePath);
      const status = failure ? (failure.kind === 'http' ? failure.status : failure.code) : token !== botToken || !f ? 404 : !f.bytes ? 400 : 200;
      fake.downloads.push({ filePath, status });
      if (status !== 200) return answerError(res, new TgError(status, status === 400 ? 'Bad Request: file is too big' : 'Not Found'));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': f!.bytes!.byteLength });
      res.end(Buffer.from(f!.bytes!));
    } finally {
      done?.();
    }
  }

  return fake;
}

// ---------------------------------------------------------------------------------------------

type Params = Record<string, unknown>;

/** Parameters from the query string and the body: JSON, form-encoded or multipart (files as `File`). */
async function readParams(req: http.IncomingMessage, url: URL, body: Buffer): Promise<Params> {
  const params: Params = Object.fromEntries(url.searchParams);
  const ct = String(req.headers['content-type'] ?? '').toLowerCase();
  if (body.length === 0) return params;
  if (ct.startsWith('application/json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw bad("can't parse JSON object");
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad("can't parse JSON object");
    return { ...params, ...(parsed as Params) };
  }
  if (ct.startsWith('multipart/form-data') || ct.startsWith('application/x-www-form-urlencoded')) {
    const form = await toRequest(ct, body).formData();
    for (const [k, v] of form.entries()) params[k] = v;
  }
  return params;
}

function answerError(res: http.ServerResponse, e: TgError): void {
  sendJson(res, e.code, { ok: false, error_code: e.code, description: e.description, ...(e.parameters ? { parameters: e.parameters } : {}) });
}

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}

function chatIdOf(p: Params): string {
  const id = str(p.chat_id)?.trim();
  if (!id) throw bad('chat_id is empty');
  if (!/^-?\d+$/.test(id)) throw bad('chat not found');
  return id;
}

/** Objects travel as JSON text in form fields. */
function parseObject(v: unknown): Record<string, unknown> | undefined {
  let o = v;
  if (typeof v === 'string') {
    try {
      o = JSON.parse(v);
    } catch {
      throw bad("can't parse reply parameters JSON object");
    }
  }
  return typeof o === 'object' && o !== null && !Array.isArray(o) ? (o as Record<string, unknown>) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Update payloads

export interface TgTestUser {
  id: number;
  first_name: string;
  last_name?: string;
  username?: string;
}

export const ANNA: TgTestUser = { id: 512345678, first_name: 'Анна', last_name: 'Смирнова', username: 'anna_s' };

let updateCounter = 840_000_000;
let messageCounter = 100;

/** Builders of webhook `Update` bodies; ids increase across calls unless given. */
export const tgUpdates = {
  /** A private-chat message from `user`: `content` is the message's content fields (`{text}`, `{photo: [...]}`...). */
  message(user: TgTestUser, content: Record<string, unknown>, o: { updateId?: number; messageId?: number; date?: number; replyTo?: number } = {}): Record<string, unknown> {
    return { update_id: o.updateId ?? ++updateCounter, message: privateMessage(user, content, o) };
  },
  text(user: TgTestUser, text: string, o: { updateId?: number; messageId?: number; replyTo?: number } = {}): Record<string, unknown> {
    return tgUpdates.message(user, { text }, o);
  },
  edited(user: TgTestUser, messageId: number, content: Record<string, unknown>, o: { updateId?: number; editDate?: number } = {}): Record<string, unknown> {
    const msg = privateMessage(user, content, { messageId, date: (o.editDate ?? now()) - 60 });
    return { update_id: o.updateId ?? ++updateCounter, edited_message: { ...msg, edit_date: o.editDate ?? now() } };
  },
  /** The person blocked (`kicked`) or unblocked (`member`) the bot. */
  myChatMember(user: TgTestUser, status: 'kicked' | 'member' | 'left', o: { updateId?: number } = {}): Record<string, unknown> {
    const bot = { id: FAKE_BOT_ID, is_bot: true, first_name: 'Taskwire Test', username: FAKE_BOT_USERNAME };
    return {
      update_id: o.updateId ?? ++updateCounter,
      my_chat_member: {
        chat: privateChat(user),
        from: userObject(user),
        date: now(),
        old_chat_member: { user: bot, status: status === 'member' ? 'kicked' : 'member' },
        new_chat_member: { user: bot, status, ...(status === 'kicked' ? { until_date: 0 } : {}) },
      },
    };
  },
  /** A message in a group chat (ignored by taskwire). */
  group(user: TgTestUser, text: string, chatId = -1001234567890): Record<string, unknown> {
    return {
      update_id: ++updateCounter,
      message: { message_id: ++messageCounter, from: userObject(user), chat: { id: chatId, title: 'Shop chat', type: 'supergroup' }, date: now(), text },
    };
  },
};

function privateMessage(user: TgTestUser, content: Record<string, unknown>, o: { messageId?: number; date?: number; replyTo?: number }): Record<string, unknown> {
  return {
    message_id: o.messageId ?? ++messageCounter,
    from: userObject(user),
    chat: privateChat(user),
    date: o.date ?? now(),
    ...(o.replyTo !== undefined ? { reply_to_message: { message_id: o.replyTo, from: { id: FAKE_BOT_ID, is_bot: true, first_name: 'Taskwire Test' }, chat: privateChat(user), date: now() - 100, text: '…' } } : {}),
    ...content,
  };
}

function userObject(u: TgTestUser): Record<string, unknown> {
  return { id: u.id, is_bot: false, first_name: u.first_name, ...(u.last_name ? { last_name: u.last_name } : {}), ...(u.username ? { username: u.username } : {}), language_code: 'ru' };
}

function privateChat(u: TgTestUser): Record<string, unknown> {
  return { id: u.id, first_name: u.first_name, ...(u.last_name ? { last_name: u.last_name } : {}), ...(u.username ? { username: u.username } : {}), type: 'private' };
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}
