import { describe, expect, it } from 'vitest';
import { warnIfNodeEndOfLife } from '../../runtime/node-version.js';
import type { Logger } from '../../runtime/logger.js';

describe('Node.js version at start', () => {
  const warnings = (version: string) => {
    const said: string[] = [];
    warnIfNodeEndOfLife({ warn: (_: unknown, msg: string) => said.push(msg) } as unknown as Logger, version);
    return said;
  };

  it('says that Node 20 is past its end of life and names the LTS to use', () => {
    expect(warnings('20.20.2')).toEqual([expect.stringContaining('Node.js 24 LTS')]);
  });

  it('says nothing on Node 22 and 24', () => {
    expect(warnings('22.12.0')).toEqual([]);
    expect(warnings('24.21.0')).toEqual([]);
  });
});
