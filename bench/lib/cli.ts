/**
 * The command line both benchmarks share: the options of the private stack, the quiet-machine
 * wait, the history reads and the output, and the checks of the values (a bad one prints the usage
 * and exits with 2).
 *
 *   const { values: argv } = parseArgs({ options: { messages: …, ...COMMON_OPTIONS }, strict: true });
 *   const { num, channel } = checkCommandLine(HELP, argv);   // exits on --help
 *   const params = { channel, messages: num('messages', argv.messages, 1), ...commonParams(argv, num) };
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ParseArgsConfig } from 'node:util';

const RESULTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');

export const COMMON_OPTIONS = {
  channel: { type: 'string', default: 'vk' },
  'wait-quiet': { type: 'string', default: '120' },
  'quiet-below': { type: 'string', default: '25' },
  'no-history': { type: 'boolean', default: false },
  'log-level': { type: 'string', default: 'warn' },
  'pg-fast': { type: 'boolean', default: false },
  'temporal-config': { type: 'string', multiple: true, default: [] },
  'temporal-db': { type: 'boolean', default: false },
  out: { type: 'string', default: RESULTS_DIR },
  help: { type: 'boolean', default: false },
} satisfies NonNullable<ParseArgsConfig['options']>;

/** Reads a number option: `--name` must be an integer (or, with integer = false, any number) >= min. */
export type NumArg = (name: string, raw: string | undefined, min: number, integer?: boolean) => number;

/** Prints the usage and exits on --help; checks --channel; gives the number reader for the other options. */
export function checkCommandLine(help: string, argv: { help?: boolean; channel?: string }): { num: NumArg; channel: 'vk' | 'whatsapp' } {
  if (argv.help) {
    console.log(help);
    process.exit(0);
  }
  const fail = (message: string): never => {
    console.error(`${message}\n\n${help}`);
    process.exit(2);
  };
  const num: NumArg = (name, raw, min, integer = true) => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) fail(`--${name} must be ${integer ? 'an integer' : 'a number'} >= ${min} (got ${raw})`);
    return n;
  };
  if (argv.channel !== 'vk' && argv.channel !== 'whatsapp') fail(`--channel must be vk or whatsapp (got ${argv.channel})`);
  return { num, channel: argv.channel as 'vk' | 'whatsapp' };
}

export interface CommonParams {
  waitQuietS: number;
  quietBelowPercent: number;
  logLevel: string;
  pgFast: boolean;
  temporalConfig: string[];
  /** The dev servers keep their state in a SQLite file, as `npm start`'s does (default: in memory). */
  temporalDb: boolean;
  history: boolean;
  outDir: string;
}

export function commonParams(
  argv: {
    'wait-quiet'?: string;
    'quiet-below'?: string;
    'log-level'?: string;
    'pg-fast'?: boolean;
    'temporal-config'?: string[];
    'temporal-db'?: boolean;
    'no-history'?: boolean;
    out?: string;
  },
  num: NumArg,
): CommonParams {
  return {
    waitQuietS: num('wait-quiet', argv['wait-quiet'], 0, false),
    quietBelowPercent: num('quiet-below', argv['quiet-below'], 0, false),
    logLevel: argv['log-level']!,
    pgFast: argv['pg-fast']!,
    temporalConfig: argv['temporal-config'] ?? [],
    temporalDb: argv['temporal-db'] ?? false,
    history: !argv['no-history'],
    outDir: path.resolve(argv.out!),
  };
}

/** The stack's PostgreSQL flags and Temporal dev server settings for --pg-fast, --temporal-config and --temporal-db. */
export function stackFlags(p: Pick<CommonParams, 'pgFast' | 'temporalConfig' | 'temporalDb'>): { postgresFlags?: string[]; temporalExtraArgs: string[]; temporalDb: boolean } {
  return {
    postgresFlags: p.pgFast ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : undefined,
    temporalExtraArgs: p.temporalConfig.flatMap((kv) => ['--dynamic-config-value', kv]),
    temporalDb: p.temporalDb,
  };
}
