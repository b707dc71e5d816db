/**
 * Runs Lua scripts by SHA1 (EVALSHA), sending the source only when Redis does not know it yet:
 * a restarted Redis starts with an empty script cache, so NOSCRIPT is an expected answer.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Runs a script by its SHA1, loading it on NOSCRIPT (a restarted Redis has an empty cache). */
export async function runScript(
  client: Redis,
  lua: string,
  keys: string[],
  args: (string | number | Buffer)[],
): Promise<unknown> {
  const sha = shaOf(lua);
  try {
    return await client.evalsha(sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return client.eval(lua, keys.length, ...keys, ...args);
  }
}

const shas = new Map<string, string>();
function shaOf(lua: string): string {
  let sha = shas.get(lua);
  if (sha === undefined) {
    sha = createHash('sha1').update(lua).digest('hex');
    shas.set(lua, sha);
  }
  return sha;
}
