/**
 * Where the worker finds its workflow code, from sources (tsx) and from the compiled `dist/`.
 * Kept free of other imports: `npm run build` loads it to write the prebuilt bundle.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `workflows/index.ts` next to the sources, `dist/workflows/index.js` next to the compiled code. */
export const WORKFLOWS_PATH = fileURLToPath(
  new URL(`../workflows/index.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url),
);

/**
 * The bundle `npm run build` writes (`dist/workflow-bundle.js`); from sources this path
 * (`<repo>/workflow-bundle.js`) does not exist and the workflows are bundled at start.
 */
export const PREBUILT_WORKFLOW_BUNDLE = fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));

export function prebuiltWorkflowBundle(): string | undefined {
  return existsSync(PREBUILT_WORKFLOW_BUNDLE) ? PREBUILT_WORKFLOW_BUNDLE : undefined;
}
