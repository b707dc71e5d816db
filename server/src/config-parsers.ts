/**
 * Parsers for configuration values. Each takes the raw string and returns the value or throws
 * an Error whose message says what the variable accepts; config.ts adds the variable's name.
 */

/** A value parser for one configuration option. */
export type Parser<T> = (raw: string) => T;

/** Whole number in [min, max]. */
export function int(min: number, max: number = Number.MAX_SAFE_INTEGER): Parser<number> {
  return (raw) => {
    const n = Number(raw.trim());
    if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new Error(`a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

/** `true`/`false` (also 1/0, yes/no). */
export const bool: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new Error('true or false');
};

/** Non-empty string. */
export const str: Parser<string> = (raw) => {
  if (raw.trim() === '') throw new Error('a non-empty string');
  return raw.trim();
};

/** One of the listed words. */
export function oneOf<const T extends string>(...words: T[]): Parser<T> {
  return (raw) => {
    const v = raw.trim().toLowerCase();
    const hit = words.find((w) => w === v);
    if (hit === undefined) throw new Error(`one of ${words.join(', ')}`);
    return hit;
  };
}

/** TCP port 0..65535 (0 = any free port). */
export const port: Parser<number> = (raw) => {
  try {
    return int(0, 65535)(raw);
  } catch {
    throw new Error('a port number from 0 to 65535');
  }
};

/** A duration in milliseconds: `1500`, `1500ms`, `10s`, `2m`, or -1 for "no limit" where allowed. */
export function duration(opts: { allowUnlimited?: boolean } = {}): Parser<number> {
  return (raw) => {
    const v = raw.trim();
    if (opts.allowUnlimited && v === '-1') return -1;
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
    if (!m) throw new Error(`a duration such as 500ms, 10s or 2m${opts.allowUnlimited ? ', or -1 for no limit' : ''}`);
    const unit = m[2] ?? 'ms';
    const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000;
    return Math.round(Number(m[1]) * factor);
  };
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3,
};

/** A size in bytes: `1048576`, `512MiB`, `64KiB`, `10MB`, or -1 for "no limit" where allowed. */
export function bytes(opts: { allowUnlimited?: boolean } = {}): Parser<number> {
  return (raw) => {
    const v = raw.trim().toLowerCase();
    if (opts.allowUnlimited && v === '-1') return -1;
    const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(v);
    const factor = m ? SIZE_UNITS[m[2] ?? ''] : undefined;
    if (!m || factor === undefined) {
      throw new Error(`a size in bytes such as 1048576, 64KiB or 512MiB${opts.allowUnlimited ? ', or -1 for no limit' : ''}`);
    }
    return Math.round(Number(m[1]) * factor);
  };
}

/** An http(s) URL, or a comma-separated list of them. */
export const urlList: Parser<string[]> = (raw) => {
  const list = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) throw new Error('one or more http(s) URLs, comma-separated');
  for (const u of list) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new Error(`one or more http(s) URLs, comma-separated ("${u}" is not a URL)`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new Error(`one or more http(s) URLs, comma-separated ("${u}" is not http or https)`);
    }
  }
  return list.map((u) => u.replace(/\/+$/, ''));
};

/** A URL with one of the given schemes (redis://, postgres://). */
export function urlWithScheme(...schemes: string[]): Parser<string> {
  return (raw) => {
    try {
      const u = new URL(raw.trim());
      if (schemes.includes(u.protocol.replace(/:$/, ''))) return raw.trim();
    } catch {
      /* reported below */
    }
    throw new Error(`a URL starting with ${schemes.map((s) => `${s}://`).join(' or ')}`);
  };
}

/** A JSON object. */
export const jsonObject: Parser<Record<string, unknown>> = (raw) => {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new Error('a JSON object');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('a JSON object');
  return v as Record<string, unknown>;
};
