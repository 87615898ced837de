import { describe, expect, it } from 'vitest';
import { findUnstorable, storableDeep, storableText } from '../../runtime/storable-text.js';

describe('storable text', () => {
  it('replaces NUL and lone surrogates, and leaves valid pairs (emoji) alone', () => {
    expect(storableText('a\u0000b')).toEqual({ text: 'a\uFFFDb', replaced: 1 });
    expect(storableText('x\ud800y\udc00z')).toEqual({ text: 'x\uFFFDy\uFFFDz', replaced: 2 });
    expect(storableText('end\ud83d')).toEqual({ text: 'end\uFFFD', replaced: 1 });
    expect(storableText('ok 😀 \ud83d\ude00')).toEqual({ text: 'ok 😀 😀', replaced: 0 });
  });

  it('walks arrays, objects and keys; returns the input untouched when clean', () => {
    const clean = { a: ['x', { b: 1 }] };
    expect(storableDeep(clean)).toEqual({ value: clean, replaced: 0 });
    expect(storableDeep({ 'k\u0000': ['v\u0000', 2, null] })).toEqual({ value: { 'k\uFFFD': ['v\uFFFD', 2, null] }, replaced: 2 });
  });

  it('names the path of the first bad string', () => {
    expect(findUnstorable({ name: 'ok', settings: { list: ['a', 'b\u0000'] } })).toBe('settings.list.1');
    expect(findUnstorable('\udc00')).toBe('');
    expect(findUnstorable({ fine: 'text' })).toBeUndefined();
    expect(findUnstorable({ a: 'ok', 'b\ud800': 'ok', c: '\u0000' })).toBe('b\ud800');
    expect(findUnstorable(['x', ['y', '\u0000']], 'list')).toBe('list.1.1');
  });

  it('walks values nested far deeper than the call stack would allow', () => {
    const depth = 100_000;
    const deep = JSON.parse(`${'{"a":'.repeat(depth)}"nul\\u0000"${'}'.repeat(depth)}`);
    expect(findUnstorable(deep)?.split('.').length).toBe(depth);
    expect(findUnstorable(JSON.parse(`${'['.repeat(depth)}"fine"${']'.repeat(depth)}`))).toBeUndefined();
  });
});
