/**
 * Channel webhooks. Each channel registers its own routes (channels/<kind>/webhook-route.ts);
 * what they share is written here once: finding the channel (404 `unknown_channel`), throttling
 * wrong secrets per address and channel, counting every delivery, and handing events to Temporal
 * (delivery reports to the database). They answer fast: `ok` means Temporal durably accepted the
 * signal; when it can't be reached the answer is 503 and the channel retries (the workflow
 * de-duplicates the redelivery).
 */
import { cachedChannel } from '../read-cache.js';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { channelDefinitions } from '../../channels/index.js';
import type { ChannelDefinition, WebhookContext, WebhookHandover, WebhookResult } from '../../channels/types.js';
import { findChannelByExternalId, findChannelsByCredential, getChannel, mergeChannelSettings } from '../../db/queries/channels.js';
import { recordDeliveryReport } from '../../db/queries/deliveries.js';
import type { Channel } from '../../db/schema.js';
import type { AuthGuard } from '../auth-throttle.js';
import { signalConversation, signalPublication, startLead, type ChannelRef } from '../conversations.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { ApiError, badRequest, errorBody, malformedJson } from '../errors.js';
import { metrics } from '../metrics.js';

/** `guard` limits wrong secrets / signatures per client address and channel (api/auth-throttle.ts). */
export function registerWebhookRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, guard: AuthGuard): void {
  for (const def of channelDefinitions()) def.webhook.register(webhookContext(app, deps, guard, def));
}

function channelRef(channel: Channel): ChannelRef {
  return { channelId: channel.id, channelKind: channel.kind, channelExternalId: channel.external_id };
}

function webhookContext(app: OpenAPIHono<AppEnv>, deps: AppDeps, guard: AuthGuard, def: ChannelDefinition): WebhookContext {
  const { kind } = def;
  const count = (result: WebhookResult, n = 1) => metrics.webhookEvents.inc({ channel: kind, result }, n);
  const handover: WebhookHandover = {
    conversation: (channel, peerId, event) => signalConversation(deps.temporal, deps.config, { ...channelRef(channel), peerId }, event),
    publication: (channel, ref, event) => signalPublication(deps.temporal, deps.config, channelRef(channel), ref, event),
    lead: (channel, lead) => startLead(deps.temporal, deps.config, channelRef(channel), lead),
    deliveryReports: (reports) =>
      deps.db.transaction().execute(async (tx) => {
        for (const { channel, report } of reports) await recordDeliveryReport(tx, channel.id, report);
      }),
  };
  return {
    app,
    logger: deps.logger,
    async parseBody(read, parse, refusal) {
      let body: unknown;
      try {
        body = await read();
      } catch {
        throw malformedJson();
      }
      try {
        return parse(body);
      } catch (err) {
        if (err instanceof refusal) throw badRequest(err.field ?? 'body', err.message);
        throw err;
      }
    },
    async channelsByExternalId(externalIds) {
      const found = new Map<string, Channel>();
      for (const id of new Set(externalIds)) {
        const ch = await cachedChannel(deps.db, `${kind}:${id}`, () => findChannelByExternalId(deps.db, kind, id));
        if (ch) found.set(id, ch);
      }
      return found;
    },
    async channelById(id) {
      const ch = await cachedChannel(deps.db, `#${id}`, () => getChannel(deps.db, id));
      return ch?.kind === kind ? ch : undefined;
    },
    channelsByCredential: (field, value) => findChannelsByCredential(deps.db, kind, field, value),
    unknownChannel(message) {
      count('unknown_channel');
      throw new ApiError(404, 'unknown_channel', message);
    },
    authenticate(c, channels, valid, refusal) {
      // Counted per channel: a channel misconfigured at the messenger must not block the others' deliveries.
      const attempts = channels.map((channel) => ({ channel, attempt: guard.attempt(c, `${kind}:${channel.id}`, 'webhook_secret') }));
      for (const { attempt } of attempts) {
        const blocked = attempt.blocked();
        if (blocked) {
          count('throttled');
          return blocked;
        }
      }
      for (const { channel, attempt } of attempts) {
        if (valid(channel)) continue;
        attempt.failed();
        count(refusal.result);
        deps.logger.warn({ channelId: channel.id, kind }, `${def.label} webhook refused: ${refusal.message}`);
        throw new ApiError(refusal.status, refusal.status === 401 ? 'unauthorized' : 'forbidden', refusal.message);
      }
      return undefined;
    },
    attempt: (c, scope) => guard.attempt(c, scope, 'webhook_secret'),
    count,
    receives(channel, receiveKind) {
      return !receiveKind || mergeChannelSettings(channel.settings).receive[receiveKind] !== false;
    },
    async handOver(c, work, unavailable) {
      let accepted: number;
      try {
        accepted = await work(handover);
      } catch (err) {
        count('unavailable');
        deps.logger.error({ ...unavailable.log, err: errText(err), kind }, `${def.label} webhook not (fully) accepted; the channel will retry`);
        // Whatever the reason, nothing (or not everything) was accepted: 503 makes the channel deliver again.
        return c.json(errorBody('unavailable', unavailable.message, unavailable.details), 503);
      }
      count('accepted', accepted);
      return undefined;
    },
  };
}

function errText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
