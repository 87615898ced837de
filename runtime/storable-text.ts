/**
 * Text PostgreSQL cannot store — NUL (U+0000) in `text` and `jsonb`, and lone UTF-16 surrogates,
 * which have no UTF-8 form — made storable: each such character becomes U+FFFD. A message that
 * carried one must never block its conversation (the insert would fail on every retry).
 */

// NUL, a high surrogate not followed by a low one, a low surrogate not preceded by a high one.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function storableText(s: string): { text: string; replaced: number } {
  let replaced = 0;
  const text = s.replace(UNSTORABLE, () => {
    replaced++;
    return '\uFFFD';
  });
  return { text, replaced };
}

/** Every string inside `value` (arrays and plain objects, keys included) made storable. */
export function storableDeep<T>(value: T): { value: T; replaced: number } {
  // The usual case, on every recorded message: nothing to replace, nothing copied.
  if (findUnstorable(value) === undefined) return { value, replaced: 0 };
  let replaced = 0;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const r = storableText(v);
      replaced += r.replaced;
      return r.text;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [walk(k) as string, walk(x)]));
    }
    return v;
  };
  const out = walk(value) as T;
  return { value: out, replaced };
}

/**
 * The path of the first unstorable string in `value` ('' for the value itself), or undefined.
 * Iterative, in document order: a hostile JSON body may nest thousands of levels deep.
 */
export function findUnstorable(value: unknown, path = ''): string | undefined {
  interface Item {
    value: unknown;
    key?: string;
    parent?: Item;
  }
  const pathOf = (item: Item): string => {
    const keys: string[] = [];
    for (let i: Item | undefined = item; i?.key !== undefined; i = i.parent) keys.push(i.key);
    const rel = keys.reverse().join('.');
    return path && rel ? `${path}.${rel}` : path || rel;
  };
  const stack: Item[] = [{ value }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (item.key !== undefined && storableText(item.key).replaced > 0) return pathOf(item);
    const v = item.value;
    if (typeof v === 'string') {
      if (storableText(v).replaced > 0) return pathOf(item);
    } else if (v !== null && typeof v === 'object') {
      const entries: Array<[string, unknown]> = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) stack.push({ value: entries[i]![1], key: entries[i]![0], parent: item });
    }
  }
  return undefined;
}

/** The line a comment gets when characters of its text were replaced. */
export function replacedNote(replaced: number): string {
  return `[taskwire: ${replaced === 1 ? '1 character' : `${replaced} characters`} that cannot be stored (NUL or a broken UTF-16 pair) replaced with \uFFFD]`;
}
