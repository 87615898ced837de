import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository's own webhook fixtures (tests/fixtures/vk, tests/fixtures/whatsapp): VK Callback
 * and WhatsApp webhook bodies, kept byte-exact (the WhatsApp signatures are over the file bytes).
 * Nothing under tests/ or bench/ reads outside the repository (tests/repo/self-contained.test.ts).
 */
export const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** Absolute path of a fixture, e.g. `fixturePath('vk', 'message_new.text.json')`. */
export function fixturePath(...rel: string[]): string {
  return path.join(FIXTURES_DIR, ...rel);
}
