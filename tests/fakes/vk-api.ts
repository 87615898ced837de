/**
 * A loopback fake of the VK API that follows shared/reference/vk-api.md:
 * form-encoded POSTs to `/method/<name>`, `{response}` / `{error:{error_code,error_msg,request_params}}`
 * envelopes with HTTP 200, the three-step photo / document uploads, signed-CDN-like downloads, and
 * messages.send idempotency by `random_id` (per app + sender: for the fake's one community, whatever the peer). Everything is recorded for assertions; errors,
 * HTTP failures and in-flight holds can be injected per method. Optionally it POSTs the
 * `message_reply` Callback event a successful send produces (§3.2) to a callback URL.
 *
 * Publications (§3.5, §6.4): `wall.getById`, `photos.getById`, `video.get` and `board.getTopics`
 * serve configurable posts / photos / videos / topics (defaults: the fixtures' post 1542 with a
 * photo on the fake CDN, photo 457240321, video 456239045, topic 49876543); `wall.createComment`
 * posts as the community, idempotent by `guid`, and (with a callback URL) echoes the new comment
 * as `wall_reply_new` with `from_id = -group_id`, as VK does.
 *
 * Tests wait on recorded state with `waitFor`, never with sleeps.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { createGates, listenOnLoopback, pollUntil, readBody, sendJson, sendText, toRequest, type FakeHold } from './common.js';

export interface FakeVkProfile {
  first_name: string;
  last_name: string;
  deactivated?: 'deleted' | 'banned';
  screen_name?: string;
  photo_100?: string;
  is_closed?: boolean;
}

export interface FakeVkOptions {
  /** The community token the fake accepts (default `vk-test-token`). */
  accessToken?: string;
  /** Community id (default 218000001, as in the fixtures). */
  groupId?: number;
  /** Extra or overriding profiles for users.get. */
  profiles?: Record<number, FakeVkProfile>;
  /** messages.send / messages.edit answer 914 above this length (default 4096). */
  maxMessageLength?: number;
  /** Where to POST `message_reply` after each new send (off by default). */
  callback?: FakeVkCallbackTarget;
}

export interface FakeVkCallbackTarget {
  url: string;
  secret?: string;
}

export interface FakeVkCall {
  method: string;
  /** Parameters as received, without `access_token`. */
  params: Record<string, string>;
  at: number;
}

export interface FakeVkSentMessage {
  messageId: number;
  conversationMessageId: number;
  peerId: number;
  text: string;
  attachments: string[];
  randomId: number;
  replyTo?: number;
  date: number;
  params: Record<string, string>;
}

export interface FakeVkEdit {
  peerId: number;
  messageId: number;
  text: string;
  attachments: string[];
  params: Record<string, string>;
}

export interface FakeVkUpload {
  kind: 'photo' | 'doc';
  /** docs: `doc` | `audio_message` | `graffiti`; photos: `photo`. */
  uploadType: string;
  peerId: number;
  field: string;
  filename: string;
  mimeType: string;
  bytes: Uint8Array;
}

export type FakeVkPublicationKind = 'wall' | 'photo' | 'video' | 'topic';

/** A comment the community posted with wall.createComment. */
export interface FakeVkWallComment {
  commentId: number;
  /** Negative: the community's wall. */
  ownerId: number;
  postId: number;
  /** Positive community id. */
  fromGroup: number;
  replyToComment?: number;
  parentsStack: number[];
  message: string;
  guid?: string;
  date: number;
  params: Record<string, string>;
}

/** `release()` lets the request go on: it is processed then (VK got it, even if the client is gone) and answered. */
export type FakeVkHold = FakeHold;

export interface FakeVkCallbackDelivery {
  body: Record<string, unknown>;
  status?: number;
  responseText?: string;
  error?: string;
}

export interface FakeVk {
  /** `http://127.0.0.1:P/method` – the adapter's `baseUrl`. */
  baseUrl: string;
  /** `http://127.0.0.1:P` */
  origin: string;
  accessToken: string;
  groupId: number;
  calls: FakeVkCall[];
  sent: FakeVkSentMessage[];
  edits: FakeVkEdit[];
  uploads: FakeVkUpload[];
  /** GETs of CDN files: path and answered status. */
  downloads: Array<{ path: string; status: number }>;
  callbackDeliveries: FakeVkCallbackDelivery[];
  /** Comments posted with wall.createComment (a repeated `guid` is recorded once). */
  wallComments: FakeVkWallComment[];
  /**
   * Content of a publication as its VK object (post, photo, video or topic fields; `id` and
   * `owner_id` are set by the fake). `null` makes it invisible: the get methods leave it out and
   * wall.createComment under such a post answers 212. Publications stay on `reset()`.
   */
  setPublication(kind: FakeVkPublicationKind, ownerId: number, itemId: number, data: Record<string, unknown> | null): void;
  /** The stored VK object of a publication (undefined when none is configured). */
  getPublication(kind: FakeVkPublicationKind, ownerId: number, itemId: number): Record<string, unknown> | undefined;
  /** URL under which `path` is (or will be) served by the fake CDN. */
  cdnUrl(path: string): string;
  /** Serve `bytes` at `path`; returns its URL. */
  addFile(path: string, bytes: Uint8Array, contentType?: string): string;
  /** Answer `path` with a redirect to `targetPath` (like vk.com/doc… → psv4.userapi.com). */
  addRedirect(path: string, targetPath: string, status?: 301 | 302 | 307): string;
  /** Answer `path` with this HTTP status and no file. */
  setFileStatus(path: string, status: number): string;
  setProfile(userId: number, profile: FakeVkProfile): void;
  /** The next `times` calls of `method` answer with this VK error (envelope, HTTP 200). */
  failNext(method: string, errorCode: number, times?: number): void;
  /** The next `times` calls of `method` answer with this HTTP status and no envelope (e.g. 502). */
  failNextHttp(method: string, status: number, times?: number): void;
  /**
   * The next call of `method` is answered after `ms`. Here and in failNext / failNextHttp / holdNext,
   * `upload:photo` and `upload:doc` name the upload hosts (failNext there answers `{error}`, as upload hosts do).
   */
  delayNext(method: string, ms: number): void;
  /** Hold the next call of `method` until `release()`. */
  holdNext(method: string): FakeVkHold;
  /** messages.send (and the upload-server methods) for this peer answer `errorCode`; null clears. */
  setPeerError(peerId: number | string, errorCode: number | null): void;
  setCallback(target: FakeVkCallbackTarget | null): void;
  /** Polls until `predicate()` is truthy; rejects after `timeoutMs` (default 5 s). */
  waitFor<T>(predicate: () => T | undefined | null | false, timeoutMs?: number, what?: string): Promise<T>;
  /** Count of calls of `method`. */
  callCount(method: string): number;
  /** Forget recorded state, injected failures, holds and peer errors (profiles and files stay). */
  reset(): void;
  stop(): Promise<void>;
}

const DEFAULT_PROFILES: Record<number, FakeVkProfile> = {
  512340001: {
    first_name: 'Анна',
    last_name: 'Смирнова',
    screen_name: 'anna.smirnova',
    photo_100: 'https://sun9-35.userapi.com/s/v1/ig2/Xq1Wc3Ev5Rt7Yu9Io1Pa3Sd5Fg7Hj9Kl.jpg?size=100x100&quality=95&crop=0,0,800,800&ava=1',
  },
  512340002: { first_name: 'Дмитрий', last_name: 'Орлов', screen_name: 'd.orlov' },
  512340003: { first_name: 'Елена', last_name: 'Кузнецова', screen_name: 'id512340003' },
  512340004: { first_name: 'Сергей', last_name: 'Волков', screen_name: 'id512340004' },
  512340005: { first_name: 'Ольга', last_name: 'Морозова', screen_name: 'id512340005' },
  512340009: { first_name: 'Наталья', last_name: 'Ковалёва', screen_name: 'id512340009' },
  512340010: { first_name: 'Игорь', last_name: 'Павлов', screen_name: 'id512340010' },
  512340077: { first_name: 'DELETED', last_name: '', deactivated: 'deleted' },
};

const GEN_FIRST = ['Иван', 'Мария', 'Алексей', 'Татьяна', 'Павел', 'Ксения', 'Никита', 'Юлия'];
const GEN_LAST = ['Петров(а)', 'Соколов(а)', 'Лебедев(а)', 'Новиков(а)', 'Фёдоров(а)', 'Егоров(а)'];

const ERROR_TEXTS: Record<number, string> = {
  1: 'Unknown error occurred',
  3: 'Unknown method passed',
  5: 'User authorization failed: invalid access_token (4).',
  6: 'Too many requests per second',
  7: 'Permission to perform this action is denied',
  8: 'Invalid request',
  9: 'Flood control',
  10: 'Internal server error',
  14: 'Captcha needed',
  27: 'Group authorization failed: method is unavailable with group auth.',
  15: 'Access denied',
  18: 'User was deleted or banned',
  29: 'Rate limit reached',
  100: 'One of the parameters specified was missing or invalid',
  105: "Couldn't save file",
  113: 'Invalid user id',
  121: 'Invalid hash',
  212: 'Access to post comments denied',
  213: 'Access to status replies denied',
  222: 'Hyperlinks are forbidden',
  223: 'Too many replies',
  900: "Can't send messages for users from blacklist",
  901: "Can't send messages for users without permission",
  902: "Can't send messages to this user due to their privacy settings",
  909: "Can't edit this message, because it's too old",
  914: 'Message is too long',
  917: "You don't have access to this chat",
  950: "Can't send message, reply timed out",
};

class VkError extends Error {
  constructor(
    readonly code: number,
    readonly detail?: string,
  ) {
    super(detail ? `${ERROR_TEXTS[code] ?? 'Error'}: ${detail}` : (ERROR_TEXTS[code] ?? 'Error'));
  }
}

interface SavedMedia {
  attachment: string; // e.g. photo-218000001_457239500_4ab9…
  object: Record<string, unknown>;
  type: string;
}

interface PendingUpload {
  kind: 'photo' | 'doc';
  uploadType: string;
  peerId: number;
  used: boolean;
}

export async function startFakeVk(opts: FakeVkOptions = {}): Promise<FakeVk> {
  const accessToken = opts.accessToken ?? 'vk-test-token';
  const groupId = opts.groupId ?? 218000001;
  const maxLen = opts.maxMessageLength ?? 4096;
  const profiles: Record<number, FakeVkProfile> = { ...DEFAULT_PROFILES, ...(opts.profiles ?? {}) };
  let callbackTarget: FakeVkCallbackTarget | null = opts.callback ?? null;

  const files = new Map<string, { bytes?: Uint8Array; contentType?: string; status?: number; redirect?: string }>();
  const gates = createGates<{ kind: 'vk'; code: number } | { kind: 'http'; status: number }>();
  const peerErrors = new Map<number, number>();
  const pendingUploads = new Map<string, PendingUpload>();
  const uploadedPhotos = new Map<string, { hash: string; server: number; upload: FakeVkUpload; used: boolean }>();
  const uploadedDocs = new Map<string, { upload: FakeVkUpload }>();
  const savedMedia = new Map<string, SavedMedia>();
  const sendsByRandomId = new Map<string, FakeVkSentMessage>();
  const cmidByPeer = new Map<number, number>();
  const pendingCallbacks = new Set<Promise<void>>();
  let nextMessageId = 3000;
  let nextPhotoId = 457239500;
  let nextDocId = 670002000;
  let nextUploadId = 1;
  /** `<kind>:<owner>_<item>` → VK object; null = not visible. */
  const publications = new Map<string, Record<string, unknown> | null>();
  const wallCommentsByGuid = new Map<string, FakeVkWallComment>();
  let nextCommentId = 3315;

  const server = await listenOnLoopback(handle);
  const origin = server.origin;

  const fake: FakeVk = {
    baseUrl: `${origin}/method`,
    origin,
    accessToken,
    groupId,
    calls: [],
    sent: [],
    edits: [],
    uploads: [],
    downloads: [],
    callbackDeliveries: [],
    wallComments: [],
    setPublication(kind, ownerId, itemId, data) {
      const owner = -Math.abs(ownerId);
      const key = pubKey(kind, owner, itemId);
      if (data === null) publications.set(key, null);
      else publications.set(key, { ...data, id: itemId, ...(kind === 'topic' ? {} : { owner_id: owner }) });
    },
    getPublication(kind, ownerId, itemId) {
      return publications.get(pubKey(kind, -Math.abs(ownerId), itemId)) ?? undefined;
    },
    cdnUrl: (path) => `${origin}/cdn/${normPath(path).split('/').map(encodeURIComponent).join('/')}`,
    addFile(path, bytes, contentType = 'application/octet-stream') {
      files.set(normPath(path), { bytes: new Uint8Array(bytes), contentType });
      return fake.cdnUrl(path);
    },
    addRedirect(path, targetPath, status = 302) {
      files.set(normPath(path), { redirect: normPath(targetPath), status });
      return fake.cdnUrl(path);
    },
    setFileStatus(path, status) {
      files.set(normPath(path), { status });
      return fake.cdnUrl(path);
    },
    setProfile(userId, profile) {
      profiles[userId] = profile;
    },
    failNext(method, errorCode, times = 1) {
      gates.failNext(method, { kind: 'vk', code: errorCode }, times);
    },
    failNextHttp(method, status, times = 1) {
      gates.failNext(method, { kind: 'http', status }, times);
    },
    delayNext: (method, ms) => gates.delayNext(method, ms),
    holdNext: (method) => gates.holdNext(method),
    setPeerError(peerId, errorCode) {
      if (errorCode === null) peerErrors.delete(Number(peerId));
      else peerErrors.set(Number(peerId), errorCode);
    },
    setCallback(target) {
      callbackTarget = target;
    },
    waitFor: (predicate, timeoutMs, what) => pollUntil(predicate, timeoutMs, what, 'fake VK'),
    callCount(method) {
      return fake.calls.filter((c) => c.method === method).length;
    },
    reset() {
      fake.calls.length = 0;
      fake.sent.length = 0;
      fake.edits.length = 0;
      fake.uploads.length = 0;
      fake.downloads.length = 0;
      fake.callbackDeliveries.length = 0;
      fake.wallComments.length = 0;
      gates.clear();
      peerErrors.clear();
      sendsByRandomId.clear();
      wallCommentsByGuid.clear();
    },
    async stop() {
      gates.releaseAll();
      await Promise.allSettled([...pendingCallbacks]);
      await server.close();
    },
  };

  // -------------------------------------------------------------------------------------------

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    const body = await readBody(req);

    if (url.pathname.startsWith('/cdn/')) return serveFile(url.pathname.slice(5), req, res);
    if (url.pathname.startsWith('/upload/')) return handleUpload(url, req, body, res);
    if (!url.pathname.startsWith('/method/')) return sendText(res, 404, 'not found');

    const method = decodeURIComponent(url.pathname.slice('/method/'.length));
    // §5: query string and form body (urlencoded) both carry parameters; JSON bodies are not read.
    const params: Record<string, string> = Object.fromEntries(url.searchParams);
    const ct = (req.headers['content-type'] ?? '').toLowerCase();
    if (req.method === 'POST' && ct.startsWith('application/x-www-form-urlencoded')) {
      Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
    } else if (req.method === 'POST' && ct.startsWith('multipart/form-data')) {
      const fd = await toRequest(ct, body).formData();
      for (const [k, v] of fd) if (typeof v === 'string') params[k] = v;
    }
    const bearer = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
    const token = params.access_token ?? bearer;
    delete params.access_token;
    fake.calls.push({ method, params: { ...params }, at: Date.now() });

    await gate(method);
    const failure = gates.takeFailure(method);
    if (failure?.kind === 'http') return sendText(res, failure.status, `<html><body>${failure.status}</body></html>`, 'text/html');

    let answer: unknown;
    try {
      if (failure?.kind === 'vk') throw new VkError(failure.code);
      if (!token) throw new VkError(5, 'no access_token passed.');
      if (token !== accessToken) throw new VkError(5);
      if (!params.v) throw new VkError(8, 'v (version) is required');
      answer = { response: runMethod(method, params) };
    } catch (err) {
      if (!(err instanceof VkError)) throw err;
      answer = { error: errorBody(method, params, err) };
    }
    sendJson(res, 200, answer);
  }

  /** Holds and delays, applied after the request was read and recorded. */
  async function gate(key: string): Promise<void> {
    const done = await gates.passHold(key);
    // `done` after the answer is written: defer to the next macrotask.
    if (done) setImmediate(done);
    await gates.passDelay(key);
  }

  function errorBody(method: string, params: Record<string, string>, err: VkError): Record<string, unknown> {
    const out: Record<string, unknown> = {
      error_code: err.code,
      error_msg: err.message,
      request_params: [
        { key: 'method', value: method },
        { key: 'oauth', value: '1' },
        ...Object.entries(params).map(([key, value]) => ({ key, value })),
      ],
    };
    if (err.code === 14) {
      out.captcha_sid = '784512963014';
      out.captcha_img = 'https://api.vk.com/captcha.php?sid=784512963014&s=1';
    }
    return out;
  }

  function runMethod(method: string, p: Record<string, string>): unknown {
    switch (method) {
      case 'users.get':
        return usersGet(p);
      case 'messages.send':
        return messagesSend(p);
      case 'messages.edit':
        return messagesEdit(p);
      case 'photos.getMessagesUploadServer':
        return getUploadServer('photo', 'photo', p);
      case 'docs.getMessagesUploadServer':
        return getUploadServer('doc', p.type || 'doc', p);
      case 'photos.saveMessagesPhoto':
        return savePhoto(p);
      case 'docs.save':
        return saveDoc(p);
      case 'wall.getById':
        return { items: getPublications('wall', p.posts, 'posts') };
      case 'photos.getById':
        return getPublications('photo', p.photos, 'photos');
      case 'video.get': {
        const items = getPublications('video', p.videos, 'videos');
        return { count: items.length, items };
      }
      case 'board.getTopics':
        return boardGetTopics(p);
      case 'wall.createComment':
        return wallCreateComment(p);
      default:
        throw new VkError(3, method);
    }
  }

  function usersGet(p: Record<string, string>): unknown {
    const ids = (p.user_ids ?? p.user_id ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    if (ids.length === 0) throw new VkError(100, 'user_ids is undefined');
    const fields = new Set((p.fields ?? '').split(',').map((s) => s.trim()));
    return ids.map((raw) => {
      if (!/^\d+$/.test(raw)) throw new VkError(113);
      const id = Number(raw);
      const prof = profiles[id] ?? generatedProfile(id);
      const user: Record<string, unknown> = { id, first_name: prof.first_name, last_name: prof.last_name };
      if (prof.deactivated) user.deactivated = prof.deactivated;
      else {
        user.can_access_closed = true;
        user.is_closed = prof.is_closed ?? false;
      }
      if (fields.has('screen_name') && !prof.deactivated) user.screen_name = prof.screen_name ?? `id${id}`;
      if (fields.has('photo_100')) user.photo_100 = prof.photo_100 ?? 'https://vk.com/images/camera_100.png';
      return user;
    });
  }

  function messagesSend(p: Record<string, string>): unknown {
    if (p.peer_ids) throw new VkError(100, 'the fake implements the peer_id form only');
    const peer = requireInt(p, p.peer_id !== undefined ? 'peer_id' : 'user_id', 'peer_id');
    if (p.random_id === undefined || p.random_id === '') throw new VkError(100, 'random_id is a required parameter');
    if (!/^-?\d+$/.test(p.random_id)) throw new VkError(100, 'random_id not integer');
    const randomId = Number(p.random_id);
    const peerError = peerErrors.get(peer);
    if (peerError !== undefined) throw new VkError(peerError);
    const text = p.message ?? '';
    const attachments = parseAttachments(p.attachment);
    if (text === '' && attachments.length === 0) throw new VkError(100, 'message is empty or invalid');
    if ([...text].length > maxLen) throw new VkError(914);

    // §6.1: a repeated random_id is not sent again — per app and sender (the fake serves one
    // community token), not per peer: a value reused for another person is dropped too. VK answers
    // with the same message id.
    const dedupeKey = String(randomId);
    if (randomId !== 0) {
      const earlier = sendsByRandomId.get(dedupeKey);
      if (earlier) return earlier.messageId;
    }
    const cmid = (cmidByPeer.get(peer) ?? 0) + 1;
    cmidByPeer.set(peer, cmid);
    const msg: FakeVkSentMessage = {
      messageId: nextMessageId++,
      conversationMessageId: cmid,
      peerId: peer,
      text,
      attachments,
      randomId,
      date: Math.floor(Date.now() / 1000),
      params: { ...p },
    };
    if (p.reply_to) msg.replyTo = Number(p.reply_to);
    fake.sent.push(msg);
    if (randomId !== 0) sendsByRandomId.set(dedupeKey, msg);
    emitMessageReply(msg);
    return msg.messageId;
  }

  function messagesEdit(p: Record<string, string>): unknown {
    const peer = requireInt(p, 'peer_id');
    const byId = p.message_id ? Number(p.message_id) : undefined;
    const byCmid = p.conversation_message_id ?? p.cmid;
    if (byId === undefined && byCmid === undefined) throw new VkError(100, 'message_id and conversation_message_id is undefined');
    const msg = fake.sent.find(
      (m) => m.peerId === peer && (byId !== undefined ? m.messageId === byId : m.conversationMessageId === Number(byCmid)),
    );
    if (!msg) throw new VkError(100, 'message_id is invalid');
    const text = p.message ?? '';
    // §6.2: an edit replaces text and attachments.
    const attachments = parseAttachments(p.attachment);
    if (text === '' && attachments.length === 0) throw new VkError(100, 'message is empty or invalid');
    if ([...text].length > maxLen) throw new VkError(914);
    msg.text = text;
    msg.attachments = attachments;
    fake.edits.push({ peerId: peer, messageId: msg.messageId, text, attachments, params: { ...p } });
    return 1;
  }

  function getUploadServer(kind: 'photo' | 'doc', uploadType: string, p: Record<string, string>): unknown {
    const peer = requireInt(p, 'peer_id');
    const peerError = peerErrors.get(peer);
    if (peerError !== undefined) throw new VkError(peerError);
    if (kind === 'doc' && !['doc', 'audio_message', 'graffiti'].includes(uploadType)) throw new VkError(100, 'type is invalid');
    const id = `u${nextUploadId++}${randomBytes(4).toString('hex')}`;
    pendingUploads.set(id, { kind, uploadType, peerId: peer, used: false });
    const uploadUrl = `${origin}/upload/${kind}/${id}?act=do_add&gid=${groupId}&api=1`;
    return kind === 'photo' ? { album_id: -3, user_id: 0, group_id: groupId, upload_url: uploadUrl } : { upload_url: uploadUrl };
  }

  async function handleUpload(url: URL, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<void> {
    const [, , kind, id] = url.pathname.split('/');
    const key = kind === 'photo' ? 'upload:photo' : 'upload:doc';
    await gate(key);
    const failure = gates.takeFailure(key);
    if (failure?.kind === 'http') return sendText(res, failure.status, 'upload failed');
    if (failure?.kind === 'vk') return sendJson(res, 200, { error: `ERR_UPLOAD_${failure.code}`, error_descr: 'injected failure' });
    const pending = id ? pendingUploads.get(id) : undefined;
    if (!pending || pending.kind !== kind || req.method !== 'POST') {
      return sendJson(res, 200, { error: 'ERR_UPLOAD_BAD_URL', error_descr: 'unknown or expired upload url' });
    }
    if (pending.used) return sendJson(res, 200, { error: 'ERR_UPLOAD_URL_USED', error_descr: 'upload url already used' });
    const ct = String(req.headers['content-type'] ?? '');
    if (!ct.toLowerCase().startsWith('multipart/form-data')) {
      return sendJson(res, 200, { error: 'ERR_UPLOAD_FILE_NOT_UPLOADED', error_descr: 'multipart/form-data expected' });
    }
    const field = kind === 'photo' ? 'photo' : 'file';
    const fd = await toRequest(ct, body).formData();
    const file = fd.get(field);
    if (file === null || typeof file === 'string') {
      // Photo hosts are reported to answer `photo: "[]"` when no file arrived (§6.7, unconfirmed).
      if (kind === 'photo') return sendJson(res, 200, { server: 909218, photo: '[]', hash: randomBytes(16).toString('hex') });
      return sendJson(res, 200, { error: 'ERR_UPLOAD_FILE_NOT_UPLOADED: file not uploaded', error_descr: `field ${field} missing` });
    }
    pending.used = true;
    const upload: FakeVkUpload = {
      kind: pending.kind,
      uploadType: pending.uploadType,
      peerId: pending.peerId,
      field,
      filename: file.name,
      mimeType: file.type,
      bytes: new Uint8Array(await file.arrayBuffer()),
    };
    fake.uploads.push(upload);
    if (kind === 'photo') {
      const server = 909218;
      const hash = randomBytes(16).toString('hex');
      const photo = JSON.stringify([{ markers_restarted: true, photo: `${id}:w`, sizes: [], latitude: 0, longitude: 0, kid: id }]);
      uploadedPhotos.set(photo, { hash, server, upload, used: false });
      return sendJson(res, 200, { server, photo, hash });
    }
    const ext = (/\.([^.]+)$/.exec(upload.filename)?.[1] ?? '').toLowerCase();
    const fileToken = `0|0|-1|240331|${id}|${ext}|${upload.bytes.byteLength}|${upload.filename}|${randomBytes(8).toString('hex')}`;
    uploadedDocs.set(fileToken, { upload });
    return sendJson(res, 200, { file: fileToken });
  }

  function savePhoto(p: Record<string, string>): unknown {
    if (!p.photo || !p.server || !p.hash) throw new VkError(100, 'photo, server and hash are required');
    const up = uploadedPhotos.get(p.photo);
    if (!up || up.hash !== p.hash || String(up.server) !== p.server) throw new VkError(121);
    if (up.used) throw new VkError(121);
    up.used = true;
    const id = nextPhotoId++;
    const ownerId = -groupId;
    const accessKey = randomBytes(9).toString('hex');
    const url = fake.addFile(`photos/photo${ownerId}_${id}.jpg`, up.upload.bytes, up.upload.mimeType || 'image/jpeg');
    const object = {
      album_id: -64,
      date: Math.floor(Date.now() / 1000),
      id,
      owner_id: ownerId,
      access_key: accessKey,
      text: '',
      has_tags: false,
      sizes: [{ height: 1280, type: 'z', width: 960, url }],
    };
    const attachment = `photo${ownerId}_${id}_${accessKey}`;
    savedMedia.set(`photo${ownerId}_${id}`, { attachment, object, type: 'photo' });
    return [object];
  }

  function saveDoc(p: Record<string, string>): unknown {
    if (!p.file) throw new VkError(100, 'file is undefined');
    const up = uploadedDocs.get(p.file);
    if (!up) throw new VkError(105);
    const id = nextDocId++;
    const ownerId = -groupId;
    const accessKey = randomBytes(9).toString('hex');
    const title = p.title || up.upload.filename;
    const ext = (/\.([^.]+)$/.exec(up.upload.filename)?.[1] ?? '').toLowerCase();
    const url = fake.addFile(`docs/doc${ownerId}_${id}/${up.upload.filename.replace(/\//g, '_')}`, up.upload.bytes, up.upload.mimeType);
    if (up.upload.uploadType === 'audio_message') {
      const object = {
        id,
        owner_id: ownerId,
        duration: 9,
        waveform: [0, 4, 11, 19, 27, 31, 22, 12, 5, 1],
        link_ogg: url,
        link_mp3: url,
        access_key: accessKey,
      };
      savedMedia.set(`doc${ownerId}_${id}`, { attachment: `doc${ownerId}_${id}`, object, type: 'audio_message' });
      return { type: 'audio_message', audio_message: object };
    }
    const object = {
      id,
      owner_id: ownerId,
      title,
      size: up.upload.bytes.byteLength,
      ext,
      date: Math.floor(Date.now() / 1000),
      type: 1,
      url,
      access_key: accessKey,
    };
    savedMedia.set(`doc${ownerId}_${id}`, { attachment: `doc${ownerId}_${id}`, object, type: 'doc' });
    return { type: 'doc', doc: object };
  }

  /** Attachment strings must name media this fake saved (photo access keys must match). */
  function parseAttachments(raw: string | undefined): string[] {
    if (!raw) return [];
    const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
    if (list.length > 10) throw new VkError(100, 'attachment: too many attachments');
    for (const a of list) {
      const m = /^([a-z_]+)(-?\d+)_(\d+)(?:_([0-9a-zA-Z]+))?$/.exec(a);
      if (!m) throw new VkError(100, `attachment is invalid: ${a}`);
      const [, type, owner, id, key] = m;
      if (type === 'photo' || type === 'doc') {
        const saved = savedMedia.get(`${type}${owner}_${id}`);
        if (!saved) throw new VkError(100, `attachment not found: ${a}`);
        if (type === 'photo' && key !== (saved.object.access_key as string)) throw new VkError(15, `attachment ${a}: wrong access key`);
      }
    }
    return list;
  }

  function emitMessageReply(msg: FakeVkSentMessage): void {
    if (!callbackTarget) return;
    deliverCallback('message_reply', {
      date: msg.date,
      from_id: -groupId,
      id: msg.messageId,
      out: 1,
      version: 10_000_000 + msg.messageId,
      attachments: msg.attachments.map((a) => {
        const m = /^([a-z_]+)(-?\d+)_(\d+)/.exec(a);
        const saved = m ? savedMedia.get(`${m[1]}${m[2]}_${m[3]}`) : undefined;
        return saved ? { type: saved.type, [saved.type]: saved.object } : { type: 'unknown' };
      }),
      conversation_message_id: msg.conversationMessageId,
      fwd_messages: [],
      important: false,
      is_hidden: false,
      peer_id: msg.peerId,
      random_id: msg.randomId,
      text: msg.text,
    });
  }

  /** POSTs a Callback event to the configured target (if any); recorded in `callbackDeliveries`. */
  function deliverCallback(type: string, object: Record<string, unknown>): void {
    const target = callbackTarget;
    if (!target) return;
    const body: Record<string, unknown> = { group_id: groupId, type, event_id: randomBytes(20).toString('hex'), v: '5.199', object };
    if (target.secret !== undefined) body.secret = target.secret;
    const delivery: FakeVkCallbackDelivery = { body };
    fake.callbackDeliveries.push(delivery);
    const p = (async () => {
      try {
        const r = await fetch(target.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        });
        delivery.status = r.status;
        delivery.responseText = await r.text();
      } catch (err) {
        delivery.error = String(err);
      }
    })();
    pendingCallbacks.add(p);
    void p.finally(() => pendingCallbacks.delete(p));
  }

  function serveFile(rawPath: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = normPath(decodeURIComponent(rawPath));
    const entry = files.get(path);
    if (!entry) {
      fake.downloads.push({ path, status: 404 });
      return sendText(res, 404, 'not found');
    }
    if (entry.redirect) {
      const status = entry.status ?? 302;
      fake.downloads.push({ path, status });
      res.writeHead(status, { location: fake.cdnUrl(entry.redirect) });
      res.end();
      return;
    }
    if (!entry.bytes) {
      const status = entry.status ?? 404;
      fake.downloads.push({ path, status });
      return sendText(res, status, `status ${status}`);
    }
    fake.downloads.push({ path, status: 200 });
    res.writeHead(200, { 'content-type': entry.contentType ?? 'application/octet-stream', 'content-length': entry.bytes.byteLength });
    res.end(req.method === 'HEAD' ? undefined : Buffer.from(entry.bytes));
  }

  // -------------------------------------------------------------------------------------------
  // Publications

  /** `owner_itemId[_accessKey]` list → the visible objects, in order (unknown ones left out, as VK does). */
  function getPublications(kind: FakeVkPublicationKind, raw: string | undefined, name: string): Record<string, unknown>[] {
    const ids = (raw ?? '').split(',').map((x) => x.trim()).filter(Boolean);
    if (ids.length === 0) throw new VkError(100, `${name} is undefined`);
    const out: Record<string, unknown>[] = [];
    for (const id of ids) {
      const m = /^(-?\d+)_(\d+)(?:_[0-9a-zA-Z]+)?$/.exec(id);
      if (!m) throw new VkError(100, `${name} is invalid: ${id}`);
      const item = publications.get(pubKey(kind, Number(m[1]), Number(m[2])));
      if (item) out.push(structuredClone(item));
    }
    return out;
  }

  function boardGetTopics(p: Record<string, string>): unknown {
    const group = requireInt(p, 'group_id');
    if (group <= 0) throw new VkError(100, 'group_id must be positive');
    const ids = (p.topic_ids ?? '').split(',').map((x) => x.trim()).filter(Boolean);
    const preview = Number(p.preview ?? 0);
    const previewLength = p.preview_length !== undefined ? Number(p.preview_length) : 90;
    const items: Record<string, unknown>[] = [];
    const wanted = ids.length
      ? ids.map((id) => publications.get(pubKey('topic', -group, Number(id))))
      : [...publications.entries()].filter(([k]) => k.startsWith(`topic:${-group}_`)).map(([, v]) => v);
    for (const t of wanted) {
      if (!t) continue;
      const { first_comment: first, ...topic } = structuredClone(t);
      // §board.getTopics: preview=1 adds the first post's text, shortened to preview_length (0 = whole).
      if (preview === 1 || preview === 3) {
        const text = typeof first === 'string' ? first : '';
        topic.first_comment = previewLength > 0 ? [...text].slice(0, previewLength).join('') : text;
      }
      items.push(topic);
    }
    return { count: items.length, items, default_order: 1, can_add_topics: false };
  }

  function wallCreateComment(p: Record<string, string>): unknown {
    const owner = requireInt(p, 'owner_id');
    const post = requireInt(p, 'post_id');
    if (owner >= 0) throw new VkError(100, 'owner_id must be negative (a community wall)');
    if (post <= 0) throw new VkError(100, 'post_id is invalid');
    const fromGroup = requireInt(p, 'from_group');
    if (fromGroup <= 0) throw new VkError(100, 'from_group must be a positive community id');
    if (fromGroup !== -owner || fromGroup !== groupId) throw new VkError(15, 'from_group must be the community that owns the wall');
    if (publications.get(pubKey('wall', owner, post)) === null) throw new VkError(212);
    const message = p.message ?? '';
    if (message.trim() === '' && !p.attachments && !p.sticker_id) throw new VkError(100, 'message is empty');
    const guid = p.guid || undefined;
    // §6.4: a repeated guid does not post a second comment.
    if (guid !== undefined) {
      const earlier = wallCommentsByGuid.get(guid);
      if (earlier) return { comment_id: earlier.commentId, parents_stack: earlier.parentsStack };
    }
    let replyTo: number | undefined;
    if (p.reply_to_comment !== undefined && p.reply_to_comment !== '') replyTo = requireInt(p, 'reply_to_comment');
    // Threads are two levels deep: a reply to a reply joins the root's thread.
    const parent = replyTo !== undefined ? fake.wallComments.find((c) => c.commentId === replyTo && c.ownerId === owner && c.postId === post) : undefined;
    const parentsStack = replyTo === undefined ? [] : parent?.parentsStack.length ? [parent.parentsStack[0]!] : [replyTo];
    const comment: FakeVkWallComment = {
      commentId: nextCommentId++,
      ownerId: owner,
      postId: post,
      fromGroup,
      parentsStack,
      message,
      date: Math.floor(Date.now() / 1000),
      params: { ...p },
    };
    if (replyTo !== undefined) comment.replyToComment = replyTo;
    if (guid !== undefined) {
      comment.guid = guid;
      wallCommentsByGuid.set(guid, comment);
    }
    fake.wallComments.push(comment);
    emitWallReplyNew(comment);
    return { comment_id: comment.commentId, parents_stack: parentsStack };
  }

  /** §3.5: the community's own comment comes back as wall_reply_new with from_id = -group_id. */
  function emitWallReplyNew(c: FakeVkWallComment): void {
    const object: Record<string, unknown> = {
      id: c.commentId,
      from_id: -groupId,
      post_id: c.postId,
      owner_id: c.ownerId,
      parents_stack: c.parentsStack,
      date: c.date,
      text: c.message,
      thread: { count: 0 },
      post_owner_id: c.ownerId,
    };
    if (c.replyToComment !== undefined) object.reply_to_comment = c.replyToComment;
    deliverCallback('wall_reply_new', object);
  }

  function installDefaultPublications(): void {
    const owner = -groupId;
    const wallPhotoBig = fake.addFile(`publications/wall${owner}_1542/photo-1080.jpg`, jpegBytes(1542, 48_000), 'image/jpeg');
    const wallPhotoSmall = fake.addFile(`publications/wall${owner}_1542/photo-604.jpg`, jpegBytes(604, 12_000), 'image/jpeg');
    fake.setPublication('wall', owner, 1542, {
      from_id: owner,
      date: 1767790800,
      post_type: 'post',
      text: 'Доставка по всей России 🚚\nСчитаем стоимость и сроки доставки в ваш город — спрашивайте в комментариях!',
      attachments: [
        {
          type: 'photo',
          photo: {
            id: 457240300,
            owner_id: owner,
            album_id: -7,
            date: 1767790700,
            text: '',
            has_tags: false,
            sizes: [
              { type: 'x', url: wallPhotoSmall, width: 604, height: 403 },
              { type: 'z', url: wallPhotoBig, width: 1080, height: 720 },
            ],
          },
        },
      ],
      comments: { count: 2, can_post: 1 },
    });
    const photoBig = fake.addFile(`publications/photo${owner}_457240321/photo-1280.jpg`, jpegBytes(457240321, 64_000), 'image/jpeg');
    const photoSmall = fake.addFile(`publications/photo${owner}_457240321/photo-604.jpg`, jpegBytes(457240322, 15_000), 'image/jpeg');
    fake.setPublication('photo', owner, 457240321, {
      album_id: 284000001,
      date: 1767700000,
      text: 'Диван «Осло», 220×95 см\nВ наличии бежевый и синий.',
      has_tags: false,
      sizes: [
        { type: 'x', url: photoSmall, width: 604, height: 453 },
        { type: 'z', url: photoBig, width: 1280, height: 960 },
      ],
    });
    fake.setPublication('video', owner, 456239045, {
      title: 'Как раскладывается диван «Осло»',
      description: 'Механизм «еврокнижка»: раскладываем за 10 секунд.',
      duration: 34,
      date: 1767600000,
      comments: 1,
      image: [{ url: fake.cdnUrl(`publications/video${owner}_456239045/preview.jpg`), width: 800, height: 450 }],
    });
    fake.setPublication('topic', owner, 49876543, {
      title: 'Возврат и обмен товара',
      created: 1767000000,
      created_by: 300100200,
      updated: 1767860400,
      updated_by: 512340008,
      is_closed: 0,
      is_fixed: 1,
      comments: 38,
      first_comment: 'Здесь отвечаем на вопросы о возврате и обмене. Укажите номер заказа или возврата.',
    });
  }

  function generatedProfile(id: number): FakeVkProfile {
    return { first_name: GEN_FIRST[id % GEN_FIRST.length]!, last_name: GEN_LAST[id % GEN_LAST.length]!, screen_name: `id${id}` };
  }

  installDefaultPublications();
  return fake;
}

function pubKey(kind: FakeVkPublicationKind, ownerId: number, itemId: number): string {
  return `${kind}:${-Math.abs(ownerId)}_${itemId}`;
}

/** Deterministic JPEG-looking bytes (SOI … EOI) of `size` bytes. */
function jpegBytes(seed: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  out.set([0xff, 0xd8, 0xff, 0xe0], 0);
  out.set([0xff, 0xd9], size - 2);
  return out;
}

function requireInt(p: Record<string, string>, name: string, shownName = name): number {
  const v = p[name];
  if (v === undefined || v === '') throw new VkError(100, `${shownName} is undefined`);
  if (!/^-?\d+$/.test(v)) throw new VkError(100, `${shownName} not integer`);
  return Number(v);
}

function normPath(path: string): string {
  return path.replace(/^\/+/, '');
}
