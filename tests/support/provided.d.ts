// What tests/global-setup.ts hands to test files through `inject(...)`.
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** host:port of the shared Temporal dev server (namespace 'default', search attributes registered). */
    temporalAddress: string;
    /** postgres://… of the shared cluster's maintenance database; create your own with tests/support/db.ts. */
    databaseAdminUrl: string;
    /** Absolute path of the Temporal CLI binary, for tests that start their own server. */
    temporalCli: string;
  }
}
