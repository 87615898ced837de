/**
 * The task change feed behind `GET /api/task-changes` (api/routes/task-changes.ts): an agent UI
 * learns which tasks changed instead of polling each one.
 *
 * Writers announce nothing themselves: triggers on the rows a task read is made of (tasks,
 * comments, attachments; db/migrations/0010) notify `taskwire_task_changes` with the task's id
 * when their transaction commits, whichever process wrote (the worker's activities, another API
 * replica). Each API process holds one extra database connection that LISTENs, started with its
 * first subscriber, and hands every id to every open stream.
 *
 * A notification sent while the connection was down is lost, so after a reconnect every
 * subscriber is told it may have missed changes (`live` with `missed`): its client reads again
 * what it shows. The connection is retried with a growing delay, up to `retryMaxMs`.
 */
import pg from 'pg';
import type { Logger } from '../runtime/logger.js';

export const TASK_CHANGES_CHANNEL = 'taskwire_task_changes';

export interface TaskChangeSubscriber {
  /**
   * Changes committed from now on reach `changed`. `missed`: the feed was down since this
   * subscriber was last told so, and changes in between may not have been delivered.
   */
  live(missed: boolean): void;
  changed(taskId: string): void;
  /** The feed stopped for good (the process is shutting down). */
  closed(): void;
}

/** What the stream route needs of a feed (TaskChangeFeed; a test's fake). */
export interface TaskChanges {
  subscribe(subscriber: TaskChangeSubscriber): () => void;
  close(): Promise<void>;
}

export interface TaskChangeFeedOptions {
  databaseUrl: string;
  logger: Logger;
  /** The first delay before reconnecting, doubled after each failure up to retryMaxMs. */
  retryFirstMs?: number;
  retryMaxMs?: number;
}

type State = 'idle' | 'connecting' | 'live' | 'down' | 'closed';

export class TaskChangeFeed implements TaskChanges {
  private readonly subscribers = new Map<TaskChangeSubscriber, { toldLive: boolean }>();
  private client: pg.Client | undefined;
  private state: State = 'idle';
  private retryTimer: NodeJS.Timeout | undefined;
  private delayMs = 0;

  constructor(private readonly opts: TaskChangeFeedOptions) {}

  /** Starts delivering to `subscriber` (its `live` comes once the feed listens); returns the unsubscribe. */
  subscribe(subscriber: TaskChangeSubscriber): () => void {
    if (this.state === 'closed') {
      subscriber.closed();
      return () => {};
    }
    const entry = { toldLive: false };
    this.subscribers.set(subscriber, entry);
    if (this.state === 'live') {
      entry.toldLive = true;
      subscriber.live(false);
    } else if (this.state === 'idle') {
      this.connect();
    }
    return () => void this.subscribers.delete(subscriber);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Ends every stream and the connection (shutdown). */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.retryTimer);
    for (const subscriber of [...this.subscribers.keys()]) subscriber.closed();
    this.subscribers.clear();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private connect(): void {
    this.state = 'connecting';
    const client = new pg.Client({ connectionString: this.opts.databaseUrl, application_name: 'taskwire task change feed' });
    this.client = client;
    client.on('notification', (n) => {
      if (n.channel !== TASK_CHANGES_CHANNEL || !n.payload || this.client !== client) return;
      for (const subscriber of this.subscribers.keys()) subscriber.changed(n.payload);
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    client
      .connect()
      .then(() => client.query(`listen ${TASK_CHANGES_CHANNEL}`))
      .then(
        () => {
          if (this.client !== client) return;
          if (this.delayMs > 0) this.opts.logger.info({}, 'task change feed: listening again');
          this.state = 'live';
          this.delayMs = 0;
          for (const [subscriber, entry] of this.subscribers) {
            const missed = entry.toldLive;
            entry.toldLive = true;
            subscriber.live(missed);
          }
        },
        (err: Error) => this.lost(client, err),
      );
  }

  private lost(client: pg.Client, err?: Error): void {
    if (this.client !== client || this.state === 'closed') return;
    this.client = undefined;
    client.removeAllListeners('notification');
    client.on('error', () => {});
    client.end().catch(() => {});
    const first = this.opts.retryFirstMs ?? 500;
    const max = this.opts.retryMaxMs ?? 10_000;
    this.delayMs = Math.min(max, this.delayMs ? this.delayMs * 2 : first);
    // Never the URL: it holds the database password.
    this.opts.logger.warn({ err: err?.message ?? 'connection ended', retryInMs: this.delayMs }, 'task change feed: database connection lost; reconnecting');
    this.state = 'down';
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.state === 'down') this.connect();
    }, this.delayMs);
    this.retryTimer.unref();
  }
}
