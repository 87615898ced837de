/**
 * `npm run build`, last step: bundles the workflow code once (webpack, as the worker would do at
 * every start) into `dist/workflow-bundle.js`, which the compiled worker loads as `workflowBundle`.
 * Run compiled: `node dist/scripts/bundle-workflows.js`.
 */
import { writeFile } from 'node:fs/promises';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { PREBUILT_WORKFLOW_BUNDLE, WORKFLOWS_PATH } from '../worker/workflow-code.js';

const started = Date.now();
const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
await writeFile(PREBUILT_WORKFLOW_BUNDLE, code);
console.log(`workflow bundle: ${PREBUILT_WORKFLOW_BUNDLE} (${(code.length / 1024).toFixed(0)} KiB, ${Date.now() - started} ms)`);
