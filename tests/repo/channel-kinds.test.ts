/**
 * A messenger is one folder: nothing outside channels/ names a channel kind. This test reads the
 * code (not the comments) of every .ts file under workflows/ activities/ api/ worker/ runtime/ db/
 * (not db/migrations, which are frozen in time) and fails on anything that branches on, or is
 * keyed by, one messenger:
 * - a string that is a kind or a workflow key (`kind === 'vk'`, `channelKind: 'whatsapp'`,
 *   `z.enum(['vk', …])`, `'wa'`), or starts with one as a prefix (`vk-msg:…`, `whatsapp-24h-window`);
 * - a table keyed by kinds (`{ vk: …, whatsapp: … }`);
 * - a channel's own configuration (`VK_REPLY_WINDOW_SECONDS`, `WHATSAPP_RATE_LIMIT_PER_SECOND`);
 * - an import from a channel's folder (`../channels/vk/callback.js`).
 * Ask the registry instead (channels/index.ts: `channelDefinition(kind)`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { channelDefinitions } from '../../channels/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GUARDED = ['workflows', 'activities', 'api', 'worker', 'runtime', 'db'];
const EXEMPT = [path.join('db', 'migrations')];

/** Every registered kind and workflow key: `vk`, `whatsapp`, `wa`, … */
const NAMES = [...new Set(channelDefinitions().flatMap((d) => [d.kind, d.workflowKey]))];

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const ALT = NAMES.map(escape).join('|');
const PATTERNS: Array<{ what: string; re: RegExp }> = [
  // 'vk', "whatsapp", `wa`, 'vk-msg:…', 'whatsapp:…' (quoted strings, also inside template expressions)
  { what: 'a kind as a string', re: new RegExp(String.raw`(['"\`])(?:${ALT})(?:[-:][^'"\`\n]*)?\1`) },
  // `vk-msg:${…}` in a template string
  { what: 'a kind as a key prefix', re: new RegExp(String.raw`\`(?:${ALT})[-:]`) },
  // { vk: …, whatsapp: … }, { vk?: … }
  { what: 'a table keyed by kind', re: new RegExp(String.raw`(?:^|[{,(]\s*)(?:${ALT})\??\s*:(?!:)`) },
  // VK_REPLY_WINDOW_SECONDS, WHATSAPP_API_BASE_URL
  { what: "a channel's configuration", re: new RegExp(String.raw`\b(?:${NAMES.map((n) => escape(n.toUpperCase())).join('|')})_[A-Z0-9_]+\b`) },
  // import … from '../channels/vk/…'
  { what: "an import from a channel's folder", re: new RegExp(String.raw`channels/(?:${ALT})/`) },
];

/** The code of a source text without its comments, keeping line numbers (`'http://…'` in a string stays). */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/(^|\s)\/\/.*$/gm, '$1');
}

/** Each line of a source text whose code names a channel kind, as `line: what: code`. */
export function kindReferences(text: string): string[] {
  return withoutComments(text)
    .split('\n')
    .flatMap((line, i) => {
      const hit = PATTERNS.find((p) => p.re.test(line));
      return hit ? [`${i + 1}: ${hit.what}: ${line.trim().slice(0, 120)}`] : [];
    });
}

function guardedFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (EXEMPT.includes(path.relative(ROOT, full))) return [];
    if (e.isDirectory()) return guardedFiles(full);
    return e.isFile() && e.name.endsWith('.ts') ? [full] : [];
  });
}

describe('nothing outside channels/ names a channel kind', () => {
  it('the registry has the kinds the detector looks for', () => {
    expect(NAMES).toEqual(expect.arrayContaining(['vk', 'whatsapp', 'wa']));
  });

  it('the detector catches how main named kinds before the registry (and lets registry lookups pass)', () => {
    const bad = [
      `replyWindowSeconds: kind === 'vk' ? config.VK_REPLY_WINDOW_SECONDS : config.WHATSAPP_REPLY_WINDOW_SECONDS,`,
      'return `${publicBaseUrl(config)}/webhooks/${kind === "vk" ? "vk" : "whatsapp"}`;',
      'return `${kind === \'whatsapp\' ? \'wa\' : kind}-${externalId}`;',
      `const ch = { channelId: channel.id, channelKind: 'vk' as const, channelExternalId: channel.external_id };`,
      `channelKind: z.enum(['vk', 'whatsapp']),`,
      `const WINDOW_NAME: Record<ChannelKind, string> = { vk: 'x', whatsapp: 'y' };`,
      `export const PROFILE_NEEDS_API: Record<ChannelKind, boolean> = { vk: true, whatsapp: false };`,
      `const rates = {\n  vk: deps.config.VK_RATE_LIMIT_PER_SECOND,\n};`,
      'keys: [`bulk:${r.id}`, ...(isVk ? [`vk-msg:${channel.external_id}:${externalId}`] : [])],',
      `if (body.template && channel.kind !== "whatsapp") throw badRequest('template', 'no');`,
      `const scope = \`whatsapp:\${ch.id}\`;`,
      `import { parseVkCallback } from '../../channels/vk/callback.js';`,
      `export type ChannelKindColumn = 'vk' | 'whatsapp';`,
    ];
    for (const src of bad) expect(kindReferences(src), src).not.toEqual([]);
    const good = [
      `// VK: group id; WhatsApp: phone_number_id ('vk', 'whatsapp')`,
      `/** \`vk-218000001\`, { vk: … } */`,
      `replyWindowSeconds: channelDefinition(kind).replyWindowSeconds?.(config) ?? 0,`,
      `if (t.kind === 'publication' && p.type !== 'wall') throw new ApiError(409, 'reply_in_vk', 'answered in VK');`,
      `const url = 'https://vk.com/wall-1_2'; const id = row.wa_id; const vkUserId = 1;`,
      `import { channelDefinition } from '../../channels/index.js';`,
    ];
    for (const src of good) expect(kindReferences(src), src).toEqual([]);
  });

  it('no file under workflows/ activities/ api/ worker/ runtime/ db/ names one', () => {
    const files = GUARDED.flatMap((d) => guardedFiles(path.join(ROOT, d)));
    expect(files.length).toBeGreaterThan(60);
    const offenders = files.flatMap((f) => kindReferences(readFileSync(f, 'utf8')).map((hit) => `${path.relative(ROOT, f)}:${hit}`));
    expect(offenders).toEqual([]);
  });
});
