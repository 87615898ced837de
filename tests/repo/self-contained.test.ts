/**
 * Nothing under tests/ or bench/ reads outside the repository: a user's clone has no `../shared`
 * beside it. The project's shared folder is a format reference only; the fixtures the tests and
 * benchmarks read are copies in tests/fixtures/. This test reads the code (not the comments) of
 * every source file under tests/ and bench/ and fails on a path that leads into the shared folder
 * (`../shared…`, `shared/fixtures…`, `'..', 'shared'` as path segments) or on the old
 * TASKWIRE_SHARED_DIR override. Comments may still name the reference.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FIXTURES_DIR } from '../support/fixtures.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOURCE = /\.(?:[cm]?ts|[cm]?js|tsx|jsx)$/;
const SHARED_ENV = 'TASKWIRE' + '_SHARED_DIR';
const UP = String.raw`\.\.(?:[\\/]+\.\.)*`; // .. or ../.. (either separator)
const Q = '[\'"`]';
const PATTERNS: RegExp[] = [
  // '../shared', '../../../shared/', `${root}/../shared/fixtures`
  new RegExp(String.raw`${UP}[\\/]+shared(?:[\\/]|${Q})`),
  // 'shared/fixtures/…' from anywhere
  /\bshared[\\/]+fixtures\b/,
  // path.join(here, '..', '..', 'shared', …) / path.resolve(here, '../..', 'shared')
  new RegExp(String.raw`${Q}${UP}[\\/]?${Q}\s*,(?:\s*${Q}${UP}[\\/]?${Q}\s*,)*\s*${Q}shared(?:[\\/][^'"\`]*)?${Q}`),
  new RegExp(String.raw`\b${SHARED_ENV}\b`),
];

/**
 * The code of a source text without its comments (block comments, and `//` comments that start a
 * line or follow whitespace, so `'http://…'` in a string stays), keeping line numbers.
 */
function withoutComments(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
    .replace(/(^|\s)\/\/.*$/gm, '$1');
}

/** Each line of a source text whose code leads into the shared folder, as `line: code`. */
export function sharedReferences(text: string): string[] {
  return withoutComments(text)
    .split('\n')
    .flatMap((line, i) => (PATTERNS.some((re) => re.test(line)) ? [`${i + 1}: ${line.trim().slice(0, 120)}`] : []));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules') return [];
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return e.isFile() && SOURCE.test(e.name) ? [full] : [];
  });
}

describe('tests and benchmarks are self-contained', () => {
  it('the detector catches the ways a path into ../shared was (or could be) written', () => {
    const bad = [
      `export const DIR = process.env.${SHARED_ENV} ?? fileURLToPath(new URL('../../../shared/', import.meta.url));`,
      `readFileSync(path.join(DIR, 'fixtures', 'vk', 'x.json'), 'utf8'); const D = '../shared/fixtures/vk';`,
      'const f = `${root}/../shared/fixtures/${name}`;',
      `const f = path.resolve(here, '..', '..', 'shared', 'fixtures');`,
      `const f = path.join(here, '../..', 'shared');`,
      `const f = "shared/fixtures/whatsapp/message.text.json";`,
      `const e = process.env['${SHARED_ENV}'];`,
    ];
    for (const src of bad) expect(sharedReferences(src), src).not.toEqual([]);
    const good = [
      `// format reference: ../shared/fixtures/whatsapp/README.md (not read)`,
      `import { channelTaskQueue } from '../workflows/shared/temporal.js';`,
      `import { x } from '../../../workflows/shared/types.js';`,
      `const f = fixturePath('whatsapp', 'message.text.json'); const g = new URL('../fixtures/', import.meta.url);`,
      `describe('Temporal dev server (shared)', () => {});`,
    ];
    for (const src of good) expect(sharedReferences(src), src).toEqual([]);
  });

  it('no source file under tests/ or bench/ reads from ../shared', () => {
    const files = [...sourceFiles(path.join(ROOT, 'tests')), ...sourceFiles(path.join(ROOT, 'bench'))];
    expect(files.length).toBeGreaterThan(40);
    expect(files).toContain(fileURLToPath(import.meta.url));
    const offenders = files
      .filter((f) => f !== fileURLToPath(import.meta.url)) // its own samples above
      .flatMap((f) => sharedReferences(readFileSync(f, 'utf8')).map((hit) => `${path.relative(ROOT, f)}:${hit}`));
    expect(offenders).toEqual([]);
  });

  it('the fixtures the tests and benchmarks read are in the repository', () => {
    expect(path.relative(ROOT, FIXTURES_DIR)).toBe(path.join('tests', 'fixtures'));
    const json = (d: string) => readdirSync(path.join(FIXTURES_DIR, d)).filter((n) => n.endsWith('.json'));
    expect(json('vk').length).toBeGreaterThanOrEqual(16);
    expect(json('whatsapp').length).toBe(15);
  });
});
