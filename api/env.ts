import type { Employee } from '../db/schema.js';
import type { IdempotencyContext } from './idempotency.js';

/** Hono environment of the taskwire app: what middleware puts on the context. */
export type AppEnv = {
  Variables: {
    /** The authenticated employee (set by the bearer middleware on /api/*). */
    employee: Employee;
    /** X-Request-Id of this request (given by the caller if well-formed, else generated). */
    requestId: string;
    /** The Idempotency-Key of a POST/PUT/PATCH/DELETE under /api and its record (api/idempotency.ts). */
    idempotency: IdempotencyContext;
  };
};
