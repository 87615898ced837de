/**
 * `npm run chaos`: fault injection against a real `npm start` (bench/lib/chaos.ts says what it
 * does). Prints a report and writes it as JSON to bench/results/chaos-<time>.json.
 *
 *   npm run chaos                          # 30 kills + 10 stops/freezes + 2 hangs (≈ 5 minutes)
 *   npm run chaos -- --kills 6 --stops 2   # a quick look
 *
 * Exits 1 when the goal is missed: any message lost, duplicated or out of order, any reply lost or
 * delivered twice, a process left behind, or a p50 back-to-ready above 15 s.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HANGS, KILLS, runChaos, STOPS, type FaultKind } from './lib/chaos.js';
import { gitState, machineInfo } from './lib/run-info.js';

const HELP = `npm run chaos -- [options]
  --kills N          kill -9 faults, spread over taskwire, PostgreSQL and Temporal (default 30)
  --stops N          graceful stop/start of taskwire, SIGTERM or SIGSTOP of a child (default 10)
  --hangs N          a child that runs but no longer serves: PostgreSQL in smart shutdown, the dev
                     server frozen for good (default 2; healed by the health probe)
  --unhealthy S      taskwire's EMBEDDED_UNHEALTHY_SECONDS for the run (default 10)
  --rate R           messages per second, all people together (default 20)
  --vk-people N      VK people writing (default 20)
  --wa-people N      WhatsApp people writing (default 10)
  --reply-every S    one agent reply every S seconds (default 1)
  --pause A-B        traffic between faults, seconds (default 1-4)
  --max-seconds S    bound on the whole run (default 1500)
  --seed N           random seed (default: the time)
  --faults LIST      exactly these faults in this order, comma-separated (kill-taskwire, kill-postgres,
                     kill-temporal, restart-taskwire, stop-postgres, stop-temporal, freeze-postgres,
                     freeze-temporal, smart-stop-postgres, hang-temporal); replaces --kills, --stops, --hangs
  --keep             keep DATA_DIR and taskwire's log even when the run passes
  --out DIR          where the JSON goes (default bench/results)`;

const { values: a } = parseArgs({
  options: {
    kills: { type: 'string', default: '30' },
    stops: { type: 'string', default: '10' },
    hangs: { type: 'string', default: '2' },
    unhealthy: { type: 'string', default: '10' },
    rate: { type: 'string', default: '20' },
    'vk-people': { type: 'string', default: '20' },
    'wa-people': { type: 'string', default: '10' },
    'reply-every': { type: 'string', default: '1' },
    pause: { type: 'string', default: '1-4' },
    'max-seconds': { type: 'string', default: '1500' },
    seed: { type: 'string' },
    faults: { type: 'string' },
    keep: { type: 'boolean', default: false },
    out: { type: 'string', default: path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'results') },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});
if (a.help) {
  console.log(HELP);
  process.exit(0);
}
const num = (name: string, raw: string | undefined, min: number): number => {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) {
    console.error(`--${name} must be a number >= ${min} (got ${raw})\n\n${HELP}`);
    process.exit(2);
  }
  return n;
};
const pause = (a.pause ?? '').split('-').map(Number);
if (pause.length !== 2 || !pause.every((x) => Number.isFinite(x) && x >= 0) || pause[0]! > pause[1]!) {
  console.error(`--pause must be A-B seconds, A <= B (got ${a.pause})\n\n${HELP}`);
  process.exit(2);
}

function faultList(raw: string | undefined): FaultKind[] | undefined {
  if (raw === undefined) return undefined;
  const list = raw.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = list.filter((x) => !([...KILLS, ...STOPS, ...HANGS] as string[]).includes(x));
  if (bad.length) {
    console.error(`--faults: unknown ${bad.join(', ')}\n\n${HELP}`);
    process.exit(2);
  }
  return list as FaultKind[];
}

const report = await runChaos({
  kills: num('kills', a.kills, 0),
  stops: num('stops', a.stops, 0),
  hangs: num('hangs', a.hangs, 0),
  env: { EMBEDDED_UNHEALTHY_SECONDS: String(num('unhealthy', a.unhealthy, 1)) },
  rate: num('rate', a.rate, 0.1),
  vkPeople: num('vk-people', a['vk-people'], 0),
  waPeople: num('wa-people', a['wa-people'], 0),
  replyEverySeconds: num('reply-every', a['reply-every'], 0.1),
  pauseSeconds: [pause[0]!, pause[1]!],
  maxSeconds: num('max-seconds', a['max-seconds'], 10),
  seed: a.seed === undefined ? Date.now() % 2 ** 31 : num('seed', a.seed, 0),
  keepData: a.keep,
  faults: faultList(a.faults),
  say: (line) => console.log(line),
});

const ready = report.readySeconds;
const goalMet = report.pass && report.kills >= Math.min(30, Number(a.kills)) && ready.p50 <= 15;
const byKind = new Map<string, number[]>();
for (const f of report.faults) byKind.set(f.kind, [...(byKind.get(f.kind) ?? []), f.readyS]);
console.log(`
chaos run: ${report.faults.length} faults (${report.kills} kill -9) in ${report.durationS} s, seed ${report.params.seed}
  messages   sent ${report.messages.sent}, acknowledged ${report.messages.acknowledged} (${report.messages.webhookAttempts} webhook attempts), unacknowledged ${report.messages.unacknowledged}
             lost ${report.messages.lost}, duplicated ${report.messages.duplicated}, out of order ${report.messages.outOfOrder}
  replies    requested ${report.replies.requested}, accepted ${report.replies.accepted}, refused ${report.replies.refused}, lost ${report.replies.lost}, delivered twice ${report.replies.deliveredTwice} (VK ${report.replies.deliveredTwiceVk}, WhatsApp ${report.replies.deliveredTwiceWhatsapp}), duplicated comments ${report.replies.duplicatedComments}
  back to ready (s): p50 ${ready.p50}, p95 ${ready.p95}, max ${ready.max}
${[...byKind].map(([k, v]) => `    ${k.padEnd(17)} n=${v.length}  max ${Math.max(...v).toFixed(2)}  values ${v.map((x) => x.toFixed(1)).join(' ')}`).join('\n')}
  graceful stops (s): ${report.stopSeconds.join(', ') || '-'}
  left behind: ${report.leftoverProcesses.length ? report.leftoverProcesses.join('; ') : 'nothing'}
${report.problems.length ? `  problems:\n${report.problems.map((p) => `    - ${p}`).join('\n')}\n` : ''}  goal (0 lost / duplicated / out of order, >= 30 kills, p50 <= 15 s): ${goalMet ? 'MET' : 'MISSED'}${report.pass ? '' : ` (data kept in ${report.dataDir})`}`);

await mkdir(a.out!, { recursive: true });
const file = path.join(a.out!, `chaos-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
await writeFile(file, JSON.stringify({ kind: 'chaos', at: new Date().toISOString(), machine: machineInfo(), git: gitState(), goalMet, ...report }, null, 2) + '\n');
console.log(`  written to ${path.relative(process.cwd(), file)}`);
process.exit(goalMet ? 0 : 1);
