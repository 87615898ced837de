/**
 * Hostile input for the fuzz test (tests/e2e/fuzz.test.ts), as fast-check arbitraries: values
 * that break naive code (NUL, lone surrogates, numbers beyond bigint or Date, very long and very
 * deep values, wrong types), one-field mutations of a valid JSON body, and broken bodies (not
 * JSON, wrong content type, bytes that are not UTF-8).
 */
import fc from 'fast-check';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Path = Array<string | number>;

/**
 * JSON text that JSON.stringify cannot write: numbers (1e400 parses as Infinity, -0 as -0, a
 * 30-digit integer loses its digits) and values nested deeper than its recursion allows. Put
 * `rawJson(text)` in a value and `toJsonText` writes `text` in its place.
 */
export const RAW_NUMBERS = ['1e400', '-1e400', '1E-400', '-0', '123456789012345678901234567890', '99999999999999999999', '0.30000000000000000000000001'] as const;
const RAW_PREFIX = '\u0001raw-json:';
const rawTexts: string[] = [];
const rawIndex = new Map<string, number>();

/** A placeholder for `text` (the same text always gets the same placeholder). */
export function rawJson(text: string): string {
  let i = rawIndex.get(text);
  if (i === undefined) {
    i = rawTexts.push(text) - 1;
    rawIndex.set(text, i);
  }
  return `${RAW_PREFIX}${i}`;
}

export const isRawJson = (v: unknown): v is string => typeof v === 'string' && v.startsWith(RAW_PREFIX);
const rawText = (marker: string): string => rawTexts[Number(marker.slice(RAW_PREFIX.length))] ?? 'null';

/** JSON text of `value`, with `rawJson` placeholders replaced by their text. */
export function toJsonText(value: unknown): string {
  const text = JSON.stringify(value) ?? 'null';
  return text.replace(/"\\u0001raw-json:(\d+)"/g, (_m, i: string) => rawTexts[Number(i)] ?? 'null');
}

/** A value nested `depth` levels deep, `[[[...]]]` or `{"a":{"a":...}}`, as raw JSON text. */
export function deepValue(depth: number, kind: 'array' | 'object'): string {
  return rawJson(kind === 'array' ? `${'['.repeat(depth)}"bottom"${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}"bottom"${'}'.repeat(depth)}`);
}

const HOSTILE_STRINGS: string[] = [
  '\u0000',
  'nul\u0000inside',
  '\ud800',
  'lone \udc00 low',
  'high at end \ud83d',
  '',
  ' ',
  '\t\r\n',
  '0',
  '-1',
  '1.5',
  'NaN',
  'Infinity',
  '1e308',
  '1e15',
  '99999999999999999999',
  '9223372036854775808',
  '-9223372036854775809',
  'null',
  'true',
  '[]',
  '{}',
  '<script>alert(1)</script>',
  "'; drop table tasks; --",
  '../../etc/passwd',
  'file:///etc/hostname',
  'http://127.0.0.1:1/x',
  '%00',
  '%ZZ',
  '\u202eevil\u202c',
  '\u200b\u200d\ufeff',
  '👍🏽👨‍👩‍👧',
  'e\u0301\u0301\u0301',
  '𝕏𝕐',
  '\uffff\ufffe',
  'Здравствуйте',
  'مرحبا',
  '{{name}}{{ name }}{{__proto__}}',
  '__proto__',
  'constructor',
  '1e+21',
  '0x1f',
  '+79161234567',
  'a@b',
  'image/png',
  'text/html',
  'wall',
  'open',
];

const HOSTILE_NUMBERS: number[] = [
  0,
  -1,
  -0.5,
  1.5,
  1e308,
  -1e308,
  1e15,
  1e20,
  2 ** 53 + 2,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  5e-324,
  2147483648,
  -2147483649,
  253402300800,
  4294967296,
];

const LONG_LENGTHS = [201, 256, 513, 4097, 10_001, 20_001, 70_000];

/** One hostile JSON value (or a raw-number marker). */
export const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_NUMBERS) },
  { weight: 1, arbitrary: fc.constantFrom(...RAW_NUMBERS).map(rawJson) },
  { weight: 1, arbitrary: fc.constantFrom<Json>(true, false, null) },
  { weight: 2, arbitrary: fc.constantFrom<Json>([], {}, [null], [''], [1, 'x', null], { '': '' }, JSON.parse('{"__proto__":1}') as Json, ['\u0000']) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom(...LONG_LENGTHS), fc.constantFrom('a', 'я', '😀', ' ', '\u0000')).map(([n, c]) => c.repeat(n)),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(40, 1_000, 20_000), fc.constantFrom<'array' | 'object'>('array', 'object')).map(([d, k]) => deepValue(d, k)) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.double() as fc.Arbitrary<number> },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> },
);

/** Keys that should never be taken as data (or that stand in for any unknown field). */
export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'extra', '', '\u0000', '\ud800', 'id', 'toString', 'x'.repeat(300)),
  fc.string({ maxLength: 12 }),
);

/** Every path inside `value` (the root included). */
export function pathsOf(value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => pathsOf(v, [...prefix, i], out));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) pathsOf(v, [...prefix, k], out);
  return out;
}

export type Mutation =
  | { op: 'replace'; value: Json }
  | { op: 'delete' }
  | { op: 'addKey'; key: string; value: Json }
  | { op: 'wrapArray' }
  | { op: 'wrapObject' };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 10, arbitrary: hostileValue.map((value) => ({ op: 'replace' as const, value })) },
  { weight: 2, arbitrary: fc.constant({ op: 'delete' as const }) },
  { weight: 2, arbitrary: fc.tuple(hostileKey, hostileValue).map(([key, value]) => ({ op: 'addKey' as const, key, value })) },
  { weight: 1, arbitrary: fc.constant({ op: 'wrapArray' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'wrapObject' as const }) },
);

/** `base` with one mutation at `path` (a structured copy; `base` is untouched). */
export function mutate(base: unknown, path: Path, m: Mutation): unknown {
  const root = { v: structuredClone(base) as unknown };
  let parent: any = root;
  let key: string | number = 'v';
  for (const seg of path) {
    parent = parent[key];
    key = seg;
  }
  const current = parent[key];
  switch (m.op) {
    case 'replace':
      parent[key] = m.value;
      break;
    case 'delete':
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else if (parent === root) root.v = undefined;
      else delete parent[key];
      break;
    case 'addKey':
      if (current !== null && typeof current === 'object' && !Array.isArray(current)) {
        Object.defineProperty(current, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
      } else {
        parent[key] = { [m.key]: m.value };
      }
      break;
    case 'wrapArray':
      parent[key] = [current];
      break;
    case 'wrapObject':
      parent[key] = { value: current };
      break;
  }
  return root.v;
}

export function describeMutation(path: Path, m: Mutation): string {
  const at = path.length ? path.join('.') : '(body)';
  const show = (v: unknown) => {
    const s = isRawJson(v) ? rawText(v) : JSON.stringify(v) ?? String(v);
    return s.length > 60 ? `${s.slice(0, 60)}…(${s.length} chars)` : s;
  };
  switch (m.op) {
    case 'replace':
      return `${at} = ${show(m.value)}`;
    case 'delete':
      return `${at} deleted`;
    case 'addKey':
      return `${at}[${JSON.stringify(m.key)}] = ${show(m.value)}`;
    default:
      return `${at} ${m.op}`;
  }
}

/** A broken body: `raw` bytes (or text) and the content type to send it with (undefined: none). */
export interface RawBody {
  label: string;
  body: string | Uint8Array;
  contentType?: string;
}

/** Bodies that are not (UTF-8) JSON, or valid JSON sent under a wrong or missing content type. */
export function brokenBodies(validJson: string): RawBody[] {
  const json = 'application/json';
  return [
    { label: 'empty body', body: '', contentType: json },
    { label: 'not JSON', body: 'hello', contentType: json },
    { label: 'truncated JSON', body: validJson.slice(0, Math.max(1, Math.floor(validJson.length / 2))), contentType: json },
    { label: 'trailing garbage', body: `${validJson}}}`, contentType: json },
    { label: 'JSON null', body: 'null', contentType: json },
    { label: 'JSON array', body: `[${validJson}]`, contentType: json },
    { label: 'JSON string', body: '"text"', contentType: json },
    { label: 'JSON number', body: '1e400', contentType: json },
    { label: 'BOM + JSON', body: `\ufeff${validJson}`, contentType: json },
    { label: 'NUL escape in a key', body: validJson.replace(/^\{/, '{"\\u0000":1,'), contentType: json },
    { label: 'duplicate keys', body: validJson.replace(/^\{/, '{"name":"dup","name":1,'), contentType: json },
    { label: 'invalid UTF-8', body: new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x22, 0x7d]), contentType: json },
    { label: 'UTF-8 encoded surrogate', body: new Uint8Array([...Buffer.from('{"text":"'), 0xed, 0xa0, 0x80, ...Buffer.from('"}')]), contentType: json },
    { label: 'valid JSON as text/plain', body: validJson, contentType: 'text/plain' },
    { label: 'valid JSON without content type', body: validJson, contentType: undefined },
    { label: 'valid JSON as form', body: validJson, contentType: 'application/x-www-form-urlencoded' },
    { label: 'form body', body: 'name=x&role=agent', contentType: 'application/x-www-form-urlencoded' },
    { label: 'multipart', body: '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--b--\r\n', contentType: 'multipart/form-data; boundary=b' },
    { label: 'JSON with odd charset', body: validJson, contentType: 'application/json; charset=utf-16' },
    { label: 'vendor JSON type', body: validJson, contentType: 'application/vnd.api+json' },
  ];
}

/** Query values: hostile strings, raw (possibly malformed) percent-encodings. */
export const hostileQueryValue: fc.Arbitrary<{ raw: string; label: string }> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_STRINGS).map((s) => ({ raw: encodeURIComponentLoose(s), label: JSON.stringify(s) })) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('%', '%Z', '%zz', '%ED%A0%80', '%C0%AF', '%FF', '%00', '%E2%80%AE', 'a+b', '1e400', '-0', '%2e%2e%2f', '[]', 'x'.repeat(5000))
      .map((raw) => ({ raw, label: `raw ${raw.length > 40 ? `${raw.slice(0, 40)}…` : raw}` })),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }).map((s) => ({ raw: encodeURIComponentLoose(s), label: JSON.stringify(s) })) },
);

/** encodeURIComponent that does not throw on a lone surrogate: it becomes the bytes a sloppy encoder writes (`%ED%A0%80`, not UTF-8). */
export function encodeURIComponentLoose(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const isHigh = c >= 0xd800 && c <= 0xdbff;
    const isLow = c >= 0xdc00 && c <= 0xdfff;
    if (isHigh && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) {
      out += encodeURIComponent(s.slice(i, i + 2));
      i++;
    } else if (isHigh || isLow) {
      out += `%${(0xe0 | (c >> 12)).toString(16).toUpperCase()}%${(0x80 | ((c >> 6) & 0x3f)).toString(16).toUpperCase()}%${(0x80 | (c & 0x3f)).toString(16).toUpperCase()}`;
    } else {
      out += encodeURIComponent(s[i]!);
    }
  }
  return out;
}

/** Path parameter values that are not ids (or ids of nothing). */
export const hostilePathParam: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('0', '-1', '1.5', 'abc', '99999999999999999999', '999999999999999999', '1e3', '%00', '%ED%A0%80', '%ZZ', '..%2F..%2Fetc', '%20', 'null', 'x'.repeat(3000), '1%00', '01', '+1', '0x10'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).map(encodeURIComponentLoose),
);

/** Idempotency-Key header values, valid and not. */
export const idempotencyKeyArb: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.stringMatching(/^[\w.:-]{8,40}$/),
  // Header values are bytes (Latin-1): a client cannot even send NUL or Cyrillic here.
  fc.constantFrom('short', 'x'.repeat(101), 'bad key with spaces', 'key/with/slashes', '"quoted-key"'),
);
