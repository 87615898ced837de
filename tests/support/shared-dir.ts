import { fileURLToPath } from 'node:url';

/** The project's shared folder (docs, reference, fixtures): beside the repository, as on CI. */
export const SHARED_DIR = process.env.TASKWIRE_SHARED_DIR ?? fileURLToPath(new URL('../../../shared/', import.meta.url));
