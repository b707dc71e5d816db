// The configuration table in the docs is generated from OPTIONS (scripts/config-table.mjs); this
// fails when a document's copy differs, so the docs cannot drift from the code.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { OPTIONS, loadConfig } from '../src/config.js';
import { configTableBlock, extractTableBlock, formatDefault, replaceTableBlock, TABLE_BEGIN, TABLE_END } from '../src/config-table.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string): string => readFileSync(`${root}${file}`, 'utf8');
const fix = (file: string): string => `run \`npx tsc -b && node scripts/config-table.mjs --write ${file}\``;

describe('configuration table', () => {
  it('docs/operations.md holds exactly the table generated from OPTIONS', () => {
    const block = extractTableBlock(read('docs/operations.md'));
    expect(block, 'docs/operations.md has no config-table marker').not.toBeNull();
    expect(block, fix('docs/operations.md')).toBe(configTableBlock());
  });

  it('README.md, once it carries the table, holds the generated one too', () => {
    if (!existsSync(`${root}README.md`)) return;
    const block = extractTableBlock(read('README.md'));
    if (block !== null) expect(block, fix('README.md')).toBe(configTableBlock());
  });

  it('names every variable of every option, aliases included', () => {
    const table = configTableBlock();
    for (const option of Object.values(OPTIONS)) {
      for (const name of option.env) expect(table).toContain(`\`${name}\``);
    }
  });

  it('shows each default in a form the variable accepts back', () => {
    for (const [key, option] of Object.entries(OPTIONS)) {
      if (option.default === undefined) continue;
      const shown = formatDefault(option.default, option.parse);
      const raw = /^`(.*)`$/.exec(shown)?.[1];
      expect(raw, `${key}: ${shown}`).toBeDefined();
      const name = option.env[0] as string;
      const parsed = loadConfig({ [name]: raw })[key as keyof typeof OPTIONS];
      expect(parsed, `${name}=${raw}`).toEqual(option.default);
    }
  });

  it('writes durations and sizes with units and leaves -1 alone', () => {
    expect(formatDefault(10_000, OPTIONS.runTimeout.parse)).toBe('`10s`');
    expect(formatDefault(50, OPTIONS.flushMs.parse)).toBe('`50ms`');
    expect(formatDefault(512 * 1024 ** 2, OPTIONS.runMemoryLimit.parse)).toBe('`512MiB`');
    expect(formatDefault(-1, OPTIONS.compileMemoryLimit.parse)).toBe('`-1`');
    expect(formatDefault(10_000_000, OPTIONS.maxFileSize.parse)).toBe('`10000000`');
    expect(formatDefault(undefined)).toBe('unset');
  });

  it('escapes table-breaking characters in the meaning column', () => {
    const block = configTableBlock({ x: { env: ['X'], default: 'a', doc: 'one | two <three>' } });
    expect(block).toContain('| `X` | `a` | one \\| two \\<three\\> |');
  });

  it('replaces only the marked block', () => {
    const doc = `# Title\n\nbefore\n\n${TABLE_BEGIN}\nold table\n${TABLE_END}\n\nafter $& $1\n`;
    const out = replaceTableBlock(doc);
    expect(out.startsWith('# Title\n\nbefore\n\n')).toBe(true);
    expect(out.endsWith('\n\nafter $& $1\n')).toBe(true);
    expect(extractTableBlock(out)).toBe(configTableBlock());
    expect(() => extractTableBlock(`${TABLE_BEGIN}\nno end`)).toThrow(/has no/);
  });
});
