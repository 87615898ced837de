/** Small text helpers the channels share. */

/** Every line of `text` quoted with "> " (an empty line as ">"); an empty text is one "> ". */
export function quote(text: string): string {
  if (!text) return '> ';
  return text
    .split('\n')
    .map((l) => (l ? `> ${l}` : '>'))
    .join('\n');
}

/** FNV-1a, 32 bits: a short stable hash of a string (not for secrets). */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Latest Unix time (seconds) taken: 9999-12-31T23:59:59Z; beyond it there is no ISO date to store. */
export const MAX_UNIX_SECONDS = 253_402_300_799;

/** Unix seconds (fractions rounded to the millisecond) → ISO 8601. */
export function unixToIso(seconds: number): string {
  return new Date(Math.round(seconds * 1000)).toISOString();
}
