import { ApplicationFailure } from '@temporalio/common';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { HTTPException } from 'hono/http-exception';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiError, isDatabaseUnavailable, toApiError, validationError } from '../../api/errors.js';
import { FailureType } from '../../workflows/shared/errors.js';

const summary = (e: ApiError) => ({ status: e.status, code: e.code, details: e.details });

describe('toApiError', () => {
  it('maps workflow failures to the contract codes', () => {
    const closed = ApplicationFailure.nonRetryable('the VK reply window closed', FailureType.ReplyWindowClosed, {
      window: 'vk-10-days', windowSeconds: 864000, closedAt: '2025-01-01T00:00:00.000Z',
    });
    expect(summary(toApiError(new WorkflowUpdateFailedError('update failed', closed)))).toEqual({
      status: 422, code: 'reply_window_closed', details: { window: 'vk-10-days', windowSeconds: 864000, closedAt: '2025-01-01T00:00:00.000Z' },
    });
    const refused = ApplicationFailure.nonRetryable('flood control', FailureType.ChannelRefused, { channelCode: 9, channelMessage: 'Flood control' });
    expect(summary(toApiError(refused))).toMatchObject({ status: 502, code: 'channel_refused', details: { channelCode: 9 } });
    const own = ApplicationFailure.nonRetryable('no', FailureType.NotSupported, { code: 'edit_not_supported', reason: 'whatsapp' });
    expect(toApiError(own)).toMatchObject({ status: 409, code: 'edit_not_supported' });
    expect(toApiError(ApplicationFailure.nonRetryable('x', FailureType.InvalidRequest, { field: 'text' }))).toMatchObject({ status: 400, code: 'invalid_request', details: { field: 'text' } });
    expect(toApiError(ApplicationFailure.nonRetryable('x', 'SomethingElse'))).toMatchObject({ status: 500, code: 'internal' });
  });

  it('maps HTTP exceptions and hides unknown errors', () => {
    expect(toApiError(new HTTPException(400, { message: 'Malformed JSON in request body' }))).toMatchObject({ status: 400, code: 'malformed_json' });
    expect(toApiError(new HTTPException(415, { message: 'Unsupported Media Type' }))).toMatchObject({ status: 415, code: 'unsupported_media_type' });
    const hidden = toApiError(new Error('relation "secret_table" does not exist'));
    expect(hidden).toMatchObject({ status: 500, code: 'internal', message: 'internal error' });
  });

  it('recognises an unreachable database', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(isDatabaseUnavailable(refused)).toBe(true);
    expect(isDatabaseUnavailable(new AggregateError([refused], 'all failed'))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))).toBe(true);
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(false);
    expect(toApiError(refused)).toMatchObject({ status: 503, code: 'unavailable' });
  });

  it('recognises an unreachable Temporal (gRPC UNAVAILABLE)', () => {
    const grpc = Object.assign(new Error('14 UNAVAILABLE: connection refused'), { code: 14, details: 'connection refused', metadata: {} });
    expect(toApiError(grpc)).toMatchObject({ status: 503, code: 'unavailable', details: { service: 'temporal' } });
  });

  it('names the first failing field of a zod error', () => {
    const schema = z.object({ settings: z.strictObject({ a: z.number().optional() }) });
    const r1 = schema.safeParse({ settings: { b: 1 } });
    expect(validationError(r1.error!, 'json')).toMatchObject({ status: 400, code: 'invalid_request', details: { field: 'settings.b' } });
    const r2 = schema.safeParse('x');
    expect(validationError(r2.error!, 'json').details?.field).toBe('body');
    const r3 = z.object({ id: z.string() }).safeParse({});
    expect(validationError(r3.error!, 'param').details?.field).toBe('id');
  });
});
