/**
 * The load side of inbound-latency: posts VK (or signed WhatsApp) webhooks on an open-loop schedule and polls the API
 * until each message's comment is visible. Runs in a child process (forked by the benchmark),
 * so its event loop and CPU are not mixed with the system under test: it only talks HTTP to it,
 * like VK and an agent's browser would. All times are epoch milliseconds with sub-ms precision,
 * comparable with Temporal history event times (same machine clock).
 *
 * Protocol (IPC): lib/phase-process.ts. The child exits when the parent disconnects.
 */
import { newWamid, signedWebhook, textWebhook } from '../../tests/fakes/graph-api.js';
import { takeEvents } from '../../tests/support/sse.js';
import { servePhases } from './phase-process.js';
import { vkMessageNew } from './vk.js';

export interface PhaseOptions {
  /** Which webhook to post: VK `message_new` (answered `ok`) or a signed WhatsApp text message (answered 200). */
  channel: 'vk' | 'whatsapp';
  tag: string;
  messages: number;
  people: number;
  rate: number;
  peerBase: number;
  idBase: number;
  /** VK only. */
  groupId?: number;
  apiUrl: string;
  ownerToken: string;
  channelId: string;
  /** VK: the channel's secret. WhatsApp: the app secret the body is signed with. */
  secret: string;
  /** VK only: the message_new fixture. */
  fixture?: Record<string, any>;
  /** Task ids not to read during discovery (earlier phases). */
  knownTaskIds: string[];
  /** 0: no reads while posting; every comment is checked once all webhooks were answered (seenAt then means nothing). */
  pollIntervalMs: number;
  pollConcurrency: number;
  /** Task reads send the last copy's ETag (If-None-Match); a 304 keeps that copy. */
  conditionalReads?: boolean;
  /**
   * How the reader learns that a task changed (with pollIntervalMs > 0): `feed` reads a task when
   * `GET /api/task-changes` names it, as an agent UI does; `poll` reads each task with outstanding
   * messages every pollIntervalMs.
   */
  watch?: 'feed' | 'poll';
  timeoutS: number;
  progressEvery: number;
  quiet?: boolean;
  /**
   * Post only: no API reads at all, the phase is complete once every webhook was answered (the
   * caller checks the outcome itself, e.g. in the database). Used by bench/bulk-send.ts.
   */
  postOnly?: boolean;
}

export interface MsgResult {
  i: number;
  peer: number;
  person: number;
  /** n-th message of this person (0 = their first: creates contact and task). */
  seq: number;
  text: string;
  scheduledAt: number;
  sentAt?: number;
  answeredAt?: number;
  status?: number;
  /** Response time of the first API read that showed the comment (upper bound of visibility). */
  seenAt?: number;
  /** Start of that read. */
  seenReadStartedAt?: number;
  /** Start of the latest read that did NOT show it (visibility came later than this). */
  lastNegativeAt?: number;
  seenBeforeAnswer?: boolean;
}

export interface PollStats {
  listRequests: number;
  taskReads: number;
  /** Task reads that showed no new comment. */
  emptyTaskReads: number;
  /** Task reads answered 304 (the last copy was current). */
  notModifiedReads: number;
  /** `task` events of the change feed (--watch feed), and its `resync`s. */
  feedEvents?: number;
  feedResyncs?: number;
  readMs: number[];
  listMs: number[];
  firstAt?: number;
  lastAt?: number;
}

export interface PhaseResult {
  tag: string;
  msgs: MsgResult[];
  taskIds: string[];
  poll: PollStats;
  startedAt: number;
  lastAnsweredAt: number;
  allSeenAt?: number;
  complete: boolean;
  /** Event loop delay of the driver (ms), to show the client kept its own schedule. */
  driverEventLoop: { p50: number; p99: number; max: number };
}

const now = () => performance.timeOrigin + performance.now();
const say = (line: string) => console.log(`[bench] ${line}`);

class Semaphore {
  private waiting: Array<() => void> = [];
  constructor(public free: number) {}
  tryAcquire(): boolean {
    if (this.free <= 0) return false;
    this.free--;
    return true;
  }
  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((r) => this.waiting.push(r));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

interface Person {
  peer: number;
  taskId?: string;
  /** Answered messages whose comment was not seen yet. */
  outstanding: Set<MsgResult>;
  inFlight: boolean;
  /** A change was announced while a read was in flight: read again after it. */
  dirty?: boolean;
  lastPollStart: number;
}

function p(sorted: number[], q: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1))]!;
}

export async function runPhase(o: PhaseOptions): Promise<PhaseResult> {
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();

  const persons: Person[] = Array.from({ length: o.people }, (_, k) => ({
    peer: o.peerBase + k + 1,
    outstanding: new Set<MsgResult>(),
    inFlight: false,
    lastPollStart: -Infinity,
  }));
  const startedAt = now() + 100;
  const msgs: MsgResult[] = Array.from({ length: o.messages }, (_, i) => {
    const person = i % o.people;
    const seq = Math.floor(i / o.people);
    const peer = persons[person]!.peer;
    return {
      i,
      peer,
      person,
      seq,
      text: `bench ${o.tag} m${i} p${peer}: Здравствуйте! Сообщение ${seq + 1}, вопрос по заказу №${45000 + i}.`,
      scheduledAt: startedAt + (i * 1000) / o.rate,
    };
  });
  const textRe = new RegExp(`^bench ${o.tag} m(\\d+) `);
  const poll: PollStats = { listRequests: 0, taskReads: 0, emptyTaskReads: 0, notModifiedReads: 0, readMs: [], listMs: [] };
  const sem = new Semaphore(o.pollConcurrency);
  const known = new Set(o.knownTaskIds); // task ids already read once (ours or not)
  const mine = new Set<string>();
  let answered = 0;
  let seen = 0;
  let failure: Error | undefined;
  let stopped = false;
  const fail = (err: Error) => {
    failure ??= err;
  };
  const auth = { authorization: `Bearer ${o.ownerToken}` };

  // ---- API reads ----

  /** A GET of the API, timed; `etag` goes in If-None-Match, and a 304 then has no body. */
  async function apiGet(path: string, etag?: string): Promise<{ body: any; etag: string | null; notModified: boolean; start: number; end: number }> {
    const start = now();
    const res = await fetch(o.apiUrl + path, { headers: etag ? { ...auth, 'if-none-match': etag } : auth });
    const text = await res.text();
    const end = now();
    poll.firstAt ??= start;
    poll.lastAt = end;
    if (res.status === 304 && etag) return { body: undefined, etag, notModified: true, start, end };
    if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    return { body: JSON.parse(text), etag: res.headers.get('etag'), notModified: false, start, end };
  }

  /**
   * A task read as an agent UI polls, counted: with the last copy's ETag in If-None-Match (unless
   * --no-conditional-reads), so an unchanged task answers 304 and the last copy stands.
   */
  const lastCopy = new Map<string, { etag: string; body: any }>();
  async function readTaskCopy(id: string): Promise<{ body: any; start: number; end: number }> {
    const kept = o.conditionalReads ? lastCopy.get(id) : undefined;
    const r = await apiGet(`/api/tasks/${id}`, kept?.etag);
    poll.taskReads++;
    poll.readMs.push(r.end - r.start);
    if (r.notModified) {
      poll.notModifiedReads++;
      return { body: kept!.body, start: r.start, end: r.end };
    }
    if (r.etag) lastCopy.set(id, { etag: r.etag, body: r.body });
    return r;
  }

  /** Notes every one of our comments in a task read; returns the person it belongs to and how many were new. */
  function observeTask(task: any, start: number, end: number): { person?: Person; fresh: number } {
    let person: Person | undefined;
    const present = new Set<MsgResult>();
    for (const c of (task?.comments ?? []) as Array<{ text?: string }>) {
      const m = textRe.exec(c.text ?? '');
      const msg = m ? msgs[Number(m[1])] : undefined;
      if (!msg) continue;
      present.add(msg);
      person = persons[msg.person];
    }
    let fresh = 0;
    for (const msg of present) {
      if (msg.seenAt !== undefined) continue;
      msg.seenAt = end;
      msg.seenReadStartedAt = start;
      if (msg.answeredAt === undefined) msg.seenBeforeAnswer = true;
      persons[msg.person]!.outstanding.delete(msg);
      fresh++;
      seen++;
    }
    if (person) for (const msg of person.outstanding) msg.lastNegativeAt = Math.max(msg.lastNegativeAt ?? -Infinity, start);
    return { person, fresh };
  }

  // ---- discovery: which task belongs to which person. The API has no contact search by VK id,
  // so the channel's new tasks are listed and each is read once; our comment texts name the person.

  let discovering = false;
  let lastDiscoveryStart = -Infinity;
  const needsDiscovery = () => persons.some((x) => x.taskId === undefined && x.outstanding.size > 0);

  async function discover(): Promise<void> {
    const start = now();
    lastDiscoveryStart = start;
    const fresh: string[] = [];
    let before: string | undefined;
    for (;;) {
      await sem.acquire();
      let items: Array<{ id: string }>;
      try {
        const r = await apiGet(`/api/tasks?channelId=${o.channelId}&limit=200${before ? `&before=${before}` : ''}`);
        poll.listRequests++;
        poll.listMs.push(r.end - r.start);
        items = r.body.items;
      } finally {
        sem.release();
      }
      for (const t of items) if (!known.has(t.id)) fresh.push(t.id);
      if (items.length < 200) break;
      before = items[items.length - 1]!.id;
    }
    await Promise.all(
      fresh.map(async (id) => {
        await sem.acquire();
        try {
          const r = await readTaskCopy(id);
          const { person, fresh: n } = observeTask(r.body, r.start, r.end);
          if (n === 0) poll.emptyTaskReads++;
          known.add(id);
          if (person) {
            mine.add(id);
            if (person.taskId && person.taskId !== id) say(`warning: person ${person.peer} has a second task ${id} (first ${person.taskId})`);
            person.taskId ??= id;
          }
        } finally {
          sem.release();
        }
      }),
    );
    // People still without a task had none at the list's snapshot (taken after `start`).
    for (const x of persons) {
      if (x.taskId !== undefined) continue;
      for (const msg of x.outstanding) msg.lastNegativeAt = Math.max(msg.lastNegativeAt ?? -Infinity, start);
    }
  }

  async function readTask(x: Person): Promise<void> {
    const r = await readTaskCopy(x.taskId!);
    const { fresh } = observeTask(r.body, r.start, r.end);
    if (fresh === 0) poll.emptyTaskReads++;
  }

  // --poll-interval 0: stay silent while posting, then verify at a relaxed pace.
  const deferred = o.pollIntervalMs === 0;
  const byFeed = !deferred && o.watch === 'feed';

  // ---- --watch feed: a task is read when the change feed names it (one read per change; a change
  // announced while its read is in flight is read again after it). A task not known yet is read once
  // to learn whose it is. After a `resync` everything outstanding is read, and new tasks listed.

  let listAgain = false;
  const personWithTask = (id: string) => persons.find((x) => x.taskId === id);
  function readOnChange(x: Person): void {
    if (x.inFlight) {
      x.dirty = true;
      return;
    }
    x.inFlight = true;
    x.dirty = false;
    x.lastPollStart = now();
    void (async () => {
      await sem.acquire();
      try {
        await readTask(x);
      } finally {
        sem.release();
        x.inFlight = false;
      }
      if (x.dirty && !stopped) readOnChange(x);
    })().catch((err: Error) => fail(err));
  }
  async function learnTask(id: string): Promise<void> {
    await sem.acquire();
    try {
      const r = await readTaskCopy(id);
      const { person, fresh } = observeTask(r.body, r.start, r.end);
      if (fresh === 0) poll.emptyTaskReads++;
      if (person) {
        mine.add(id);
        person.taskId ??= id;
      }
    } finally {
      sem.release();
    }
  }
  const learning = new Map<string, Promise<void>>();
  function taskChanged(id: string): void {
    const x = personWithTask(id);
    if (x) return readOnChange(x);
    if (known.has(id)) return; // another phase's task
    const pending = learning.get(id);
    if (pending) {
      // Changed again while we first read it: read again once we know whose it is.
      void pending.then(() => {
        const y = personWithTask(id);
        if (y) readOnChange(y);
      });
      return;
    }
    const p = learnTask(id).catch((err: Error) => fail(err));
    learning.set(id, p);
    void p.then(() => {
      learning.delete(id);
      if (!personWithTask(id)) known.add(id);
    });
  }
  const feedAbort = new AbortController();
  async function watchFeed(): Promise<void> {
    const res = await fetch(o.apiUrl + '/api/task-changes', { headers: auth, signal: feedAbort.signal });
    if (res.status !== 200 || !res.body) throw new Error(`GET /api/task-changes answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    const decoder = new TextDecoder();
    let buffer = '';
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    void (async () => {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const taken = takeEvents(buffer + decoder.decode(chunk, { stream: true }));
        buffer = taken.rest;
        for (const { event, data } of taken.events) {
          if (event === 'ready') ready();
          else if (event === 'task') {
            poll.feedEvents = (poll.feedEvents ?? 0) + 1;
            taskChanged(data.taskId as string);
          } else if (event === 'resync') {
            poll.feedResyncs = (poll.feedResyncs ?? 0) + 1;
            say('change feed: resync (reading every task with outstanding messages)');
            for (const x of persons) if (x.taskId !== undefined && x.outstanding.size > 0) readOnChange(x);
            listAgain = true;
          }
        }
      }
      if (!stopped) fail(new Error('the change feed ended while the phase ran'));
    })().catch((err: Error) => {
      if (!stopped) fail(new Error(`the change feed failed: ${err.message}`));
    });
    await isReady;
  }
  if (byFeed) await watchFeed();
  const interval = () => (deferred ? 200 : o.pollIntervalMs);
  let tickTimer: NodeJS.Timeout | undefined;
  const tick = () => {
    if (stopped || o.postOnly) return;
    if (deferred && answered < msgs.length) {
      tickTimer = setTimeout(tick, 20);
      return;
    }
    const t = now();
    if (byFeed) {
      // The feed names new tasks; listing only after a resync.
      if (!discovering && listAgain) {
        listAgain = false;
        discovering = true;
        void discover()
          .catch((err: Error) => fail(err))
          .finally(() => (discovering = false));
      }
      tickTimer = setTimeout(tick, 50);
      return;
    }
    if (!discovering && t - lastDiscoveryStart >= interval() && needsDiscovery() && sem.free > 0) {
      discovering = true;
      void discover()
        .catch((err: Error) => fail(err))
        .finally(() => (discovering = false));
    }
    const due = persons
      .filter((x) => x.taskId !== undefined && x.outstanding.size > 0 && !x.inFlight && t - x.lastPollStart >= interval())
      .sort((a, b) => a.lastPollStart - b.lastPollStart);
    for (const x of due) {
      if (!sem.tryAcquire()) break;
      x.inFlight = true;
      x.lastPollStart = t;
      void readTask(x)
        .catch((err: Error) => fail(err))
        .finally(() => {
          x.inFlight = false;
          sem.release();
        });
    }
    tickTimer = setTimeout(tick, 5);
  };
  tick();

  // ---- posting: open loop (message i at startedAt + i/rate, whatever happened to earlier ones) ----

  const wa = o.channel === 'whatsapp';
  const webhookUrl = `${o.apiUrl}/webhooks/${wa ? 'whatsapp' : 'vk'}`;

  /** The request for one message: VK's JSON with the secret inside, or WhatsApp's bytes signed with the app secret. */
  const request = (msg: MsgResult): { headers: Record<string, string>; body: string } => {
    if (wa) {
      const signed = signedWebhook(
        textWebhook({ from: String(msg.peer), name: `Bench ${msg.peer}`, text: msg.text, timestamp: Math.floor(Date.now() / 1000), id: newWamid(String(msg.peer)) }),
        o.secret,
      );
      return { headers: { 'content-type': 'application/json', 'x-hub-signature-256': signed.signature }, body: signed.raw };
    }
    const body = vkMessageNew(o.fixture!, {
      groupId: o.groupId!,
      secret: o.secret,
      peer: msg.peer,
      id: o.idBase + msg.i,
      cmid: msg.seq + 1,
      eventId: `bench-${o.tag}-${msg.peer}-${msg.i}`,
      text: msg.text,
    });
    return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  };
  let next = 0;
  let postTimer: NodeJS.Timeout | undefined;
  let lastAnsweredAt = -Infinity;
  const answerMs: number[] = [];

  const fire = (msg: MsgResult) => {
    const req = request(msg);
    msg.sentAt = now();
    fetch(webhookUrl, { method: 'POST', headers: req.headers, body: req.body })
      .then(async (res) => {
        const text = await res.text();
        msg.answeredAt = now();
        msg.status = res.status;
        if (res.status !== 200 || (!wa && text !== 'ok')) {
          fail(new Error(`webhook of message ${msg.i} (peer ${msg.peer}) answered HTTP ${res.status}: ${text.slice(0, 500)}`));
          return;
        }
        answered++;
        lastAnsweredAt = msg.answeredAt;
        answerMs.push(msg.answeredAt - msg.sentAt!);
        if (msg.seenAt === undefined) persons[msg.person]!.outstanding.add(msg);
        if (!o.quiet && answered % o.progressEvery === 0) {
          const lat = msgs.filter((m) => m.seenAt !== undefined && m.answeredAt !== undefined).map((m) => m.seenAt! - m.answeredAt!);
          say(
            `${answered}/${o.messages} answered at ${((msg.answeredAt - startedAt) / 1000).toFixed(1)} s ` +
              `(scheduled by ${((answered - 1) / o.rate).toFixed(1)} s), ${seen} visible, ` +
              `webhook p50 ${p([...answerMs].sort((a, b) => a - b), 50).toFixed(0)} ms, ` +
              `visible p50 so far ${lat.length ? p(lat.sort((a, b) => a - b), 50).toFixed(0) : '-'} ms`,
          );
        }
      })
      .catch((err: Error) => fail(new Error(`webhook of message ${msg.i} failed: ${err.message}`, { cause: err })));
  };

  const pump = () => {
    if (stopped || failure) return;
    const t = now();
    while (next < msgs.length && msgs[next]!.scheduledAt <= t) fire(msgs[next++]!);
    if (next < msgs.length) postTimer = setTimeout(pump, Math.max(0, msgs[next]!.scheduledAt - now()));
  };
  postTimer = setTimeout(pump, Math.max(0, startedAt - now()));

  // ---- wait: everything answered and seen, a failure, or the timeout ----

  let lastSeenReport = 0;
  let complete = false;
  try {
    for (;;) {
      if (failure) throw failure;
      if (answered === msgs.length && (seen === msgs.length || o.postOnly)) {
        complete = true;
        break;
      }
      const t = now();
      if (answered === msgs.length && t - lastAnsweredAt > o.timeoutS * 1000) {
        say(`timeout: ${msgs.length - seen} comments not visible ${o.timeoutS} s after the last webhook answer`);
        break;
      }
      if (next === msgs.length && answered < msgs.length && t - msgs[msgs.length - 1]!.scheduledAt > (o.timeoutS + 30) * 1000) {
        throw new Error(`${msgs.length - answered} webhooks still unanswered ${o.timeoutS + 30} s after the last was sent`);
      }
      if (!o.quiet && answered === msgs.length && seen >= lastSeenReport + o.progressEvery && seen < msgs.length) {
        lastSeenReport = seen - (seen % o.progressEvery);
        say(`${seen}/${msgs.length} visible`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    stopped = true;
    feedAbort.abort();
    clearTimeout(tickTimer);
    clearTimeout(postTimer);
    // Let in-flight reads finish so nothing touches the API after the phase.
    const deadline = Date.now() + 10_000;
    while (sem.free < o.pollConcurrency && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    eld.disable();
  }

  const allSeen = msgs.every((m) => m.seenAt !== undefined);
  return {
    tag: o.tag,
    msgs,
    taskIds: [...mine],
    poll,
    startedAt,
    lastAnsweredAt,
    allSeenAt: allSeen ? Math.max(...msgs.map((m) => m.seenAt!)) : undefined,
    complete: complete && (allSeen || o.postOnly === true),
    driverEventLoop: {
      p50: Math.round(eld.percentile(50) / 1e5) / 10,
      p99: Math.round(eld.percentile(99) / 1e5) / 10,
      max: Math.round(eld.max / 1e5) / 10,
    },
  };
}

// ---- child process entry (lib/driver-process.ts forks this file) ----

servePhases('driver', runPhase);
