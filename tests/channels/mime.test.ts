import { describe, expect, it } from 'vitest';
import { baseMime, extensionFor, mimeFromExtension, pickMime } from '../../channels/mime.js';
import { quote } from '../../channels/text.js';

describe('file types (mime-types)', () => {
  it('a type from an extension, with or without the dot, any case; generic when unknown', () => {
    const types = ['docx', '.JPG', '', 'notatype'].map(mimeFromExtension);
    expect(types).toEqual(['application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'image/jpeg', 'application/octet-stream', 'application/octet-stream']);
  });

  it('an extension from a type, as messengers name them; none for generic or unknown types', () => {
    const types = ['image/jpeg', 'audio/ogg; codecs=opus', 'audio/mpeg', 'application/pdf', 'application/octet-stream', 'application/x-not-a-type'];
    expect(types.map(extensionFor)).toEqual(['.jpg', '.ogg', '.mp3', '.pdf', '', '']);
    expect(baseMime('Text/Plain; charset=utf-8')).toBe('text/plain');
  });

  it.each([
    ['image/png; charset=binary', 'image/jpeg', 'a.jpg', 'image/png'],
    ['application/octet-stream', 'application/pdf', 'a.bin', 'application/pdf'],
    ['binary/octet-stream', undefined, 'Накладная.PDF', 'application/pdf'],
    [null, 'application/octet-stream', 'notes.txt', 'text/plain'],
    [null, undefined, 'file', 'application/octet-stream'],
  ])("a download's type: the server's (%j) unless generic, then the event's (%j), then the name's (%j) → %s", (served, known, name, type) => {
    expect(pickMime(served, known, name)).toBe(type);
  });

  it('quote marks every line; an empty text is one marker', () => {
    expect([quote('a\n\nb'), quote('')]).toEqual(['> a\n>\n> b', '> ']);
  });
});
