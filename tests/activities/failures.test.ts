/** Issue 10: every activity failure reaches the workflow classified as retryable or not. */
import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { classified, classifyDatabaseError } from '../../activities/failures.js';
import { freePort } from '../../runtime/free-port.js';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('classifyDatabaseError', () => {
  it('values PostgreSQL refuses are invalid; a unique conflict is not (a retry may resolve a race)', () => {
    expect(classifyDatabaseError(pgError('22021', 'invalid byte sequence for encoding "UTF8": 0x00'))).toBe('invalid');
    expect(classifyDatabaseError(pgError('22003', 'value out of range for type bigint'))).toBe('invalid');
    expect(classifyDatabaseError(pgError('23514', 'check constraint'))).toBe('invalid');
    expect(classifyDatabaseError(pgError('23503', 'foreign key'))).toBe('invalid');
    expect(classifyDatabaseError(pgError('23505', 'duplicate key'))).toBeUndefined();
    expect(classifyDatabaseError(pgError('40001', 'could not serialize'))).toBeUndefined();
  });

  it('connection trouble and a stopping server are the database being unavailable', () => {
    expect(classifyDatabaseError(pgError('57P01', 'terminating connection due to administrator command'))).toBe('unavailable');
    expect(classifyDatabaseError(pgError('57P03', 'the database system is starting up'))).toBe('unavailable');
    expect(classifyDatabaseError(pgError('53300', 'too many clients'))).toBe('unavailable');
    expect(classifyDatabaseError(new Error('Connection terminated unexpectedly'))).toBe('unavailable');
    expect(classifyDatabaseError(new Error('something else'))).toBeUndefined();
  });

  it('a real refused connection is unavailable', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: await freePort(), user: 'x', database: 'x' });
    const err = await client.connect().then(() => undefined, (e: unknown) => e);
    expect(classifyDatabaseError(err)).toBe('unavailable');
  });
});

describe('classified activities', () => {
  it('turn refused values into non-retryable InvalidData and outages into retryable DatabaseUnavailable', async () => {
    const invalid = await classified(async () => { throw pgError('22021', 'bad bytes'); })().catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(ApplicationFailure);
    expect(invalid).toMatchObject({ type: 'InvalidData', nonRetryable: true });
    const down = await classified(async () => { throw pgError('57P01', 'shutdown'); })().catch((e: unknown) => e);
    expect(down).toMatchObject({ type: 'DatabaseUnavailable', nonRetryable: false });
    const own = ApplicationFailure.nonRetryable('gone', 'NotFound');
    expect(await classified(async () => { throw own; })().catch((e: unknown) => e)).toBe(own);
    const other = new Error('a bug');
    expect(await classified(async () => { throw other; })().catch((e: unknown) => e)).toBe(other);
    expect(await classified(async (a: number) => a + 1)(1)).toBe(2);
  });
});
