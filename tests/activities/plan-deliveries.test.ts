import { describe, expect, it } from 'vitest';
import { planDeliveries, splitText } from '../../activities/outbound.js';

const file = (n: number) => ({ sha256: String(n).padStart(64, '0'), filename: `f${n}.pdf`, mimeType: 'application/pdf', size: n });
const vk = { maxTextLength: 4096, filesPerMessage: 10, maxCaptionLength: 4096 };
const wa = { maxTextLength: 4096, filesPerMessage: 1, maxCaptionLength: 1024 };

describe('planDeliveries', () => {
  it('VK: text and up to 10 files in one message', () => {
    const plan = planDeliveries(vk, 'Счёт', [file(1), file(2)]);
    expect(plan).toEqual([{ text: 'Счёт', files: [file(1), file(2)] }]);
  });

  it('VK: a text over 4096 characters becomes several messages, cut at a word boundary, nothing lost', () => {
    const words = Array.from({ length: 1500 }, (_, i) => `слово${i}`).join(' ');
    const plan = planDeliveries(vk, words, []);
    expect(plan.length).toBeGreaterThan(1);
    for (const p of plan) expect(p.text.length).toBeLessThanOrEqual(4096);
    expect(plan.map((p) => p.text).join(' ')).toBe(words);
  });

  it('a long text is never cut between the halves of an emoji', () => {
    const text = `Hello, Anna!\n${'😀'.repeat(5000)}`;
    const parts = splitText(text, 4096);
    expect(parts.length).toBe(3);
    for (const p of parts) expect(p).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    expect(parts.join('')).toBe(text);
  });

  it('VK: eleven files need two messages', () => {
    const files = Array.from({ length: 11 }, (_, i) => file(i + 1));
    const plan = planDeliveries(vk, 'много', files);
    expect(plan.map((p) => [p.text, p.files.length])).toEqual([['много', 10], ['', 1]]);
  });

  it('WhatsApp: one file per message, the text as the first caption when it fits', () => {
    const plan = planDeliveries(wa, 'Документы', [file(1), file(2)]);
    expect(plan).toEqual([{ text: 'Документы', files: [file(1)] }, { text: '', files: [file(2)] }]);
  });

  it('WhatsApp: a text too long for a caption goes first, then the files', () => {
    const text = 'x'.repeat(1500);
    const plan = planDeliveries(wa, text, [file(1)]);
    expect(plan).toEqual([{ text, files: [] }, { text: '', files: [file(1)] }]);
  });

  it('files only: no empty text message', () => {
    expect(planDeliveries(wa, '', [file(1)])).toEqual([{ text: '', files: [file(1)] }]);
  });

  it('splitText keeps short texts whole', () => {
    expect(splitText('привет', 10)).toEqual(['привет']);
  });
});
