import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('loadConfig', () => {
  it('has the contract defaults', () => {
    const c = loadConfig({});
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(3000);
    expect(c.dataDir).toBe('./data');
    expect(c.pistonUrls).toBeUndefined();
    expect(c.runTimeout).toBe(10_000);
    expect(c.allowNet).toBe(false);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('accepts the seed names and Piston names', () => {
    const c = loadConfig({ PISTON_TIMEOUT: '5s', PISTON_MEMORY_LIMIT: '256MiB', PISTON_ALLOW_NET: 'true' });
    expect(c.runTimeout).toBe(5000);
    expect(c.runMemoryLimit).toBe(256 * 1024 * 1024);
    expect(c.allowNet).toBe(true);
    expect(loadConfig({ PISTON_DISABLE_NETWORKING: 'true' }).allowNet).toBe(false);
    expect(loadConfig({ PISTON_DISABLE_NETWORKING: 'false' }).allowNet).toBe(true);
    expect(loadConfig({ PISTON_RUN_TIMEOUT: '3000', PISTON_TIMEOUT: '9s' }).runTimeout).toBe(3000);
    expect(loadConfig({ PISTON_URL: 'http://a:2000/, http://b:2000' }).pistonUrls).toEqual(['http://a:2000', 'http://b:2000']);
  });

  it('reports every bad value, one line each, naming the variable', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', PISTON_TIMEOUT: 'soon', PISTON_URL: 'ftp://x', CODEX_LOG_LEVEL: 'loud' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const lines = (error as ConfigError).problems;
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe('PORT="eighty" is not valid: expected a port number from 0 to 65535');
    expect(lines.join('\n')).toContain('PISTON_TIMEOUT="soon" is not valid: expected a duration such as 500ms, 10s or 2m, or -1 for no limit');
    expect(lines.join('\n')).toContain('PISTON_URL="ftp://x"');
    expect(lines.join('\n')).toContain('CODEX_LOG_LEVEL="loud" is not valid: expected one of trace, debug, info, warn, error, fatal, silent');
  });
});
