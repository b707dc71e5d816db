import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ApiError, httpApi, parseRuntimes } from '../src/lib/api.js';
import { hasGrammar, languageKey, loadLanguage } from '../src/lib/editor/languages.js';
import { languageChoices } from '../src/lib/home/runtime-choices.js';
import { parseRoute } from '../src/lib/route.js';

const fixture = JSON.parse(readFileSync('/work/shared/piston-fixtures/runtimes.json', 'utf8')) as { response: { body: unknown } };

describe('routes', () => {
  it('parses home, rooms and bad links', () => {
    expect(parseRoute('/', '')).toEqual({ page: 'home' });
    expect(parseRoute('/r/abcdef123', '?token=t0k')).toEqual({ page: 'room', id: 'abcdef123', token: 't0k' });
    expect(parseRoute('/r/abcdef123', '')).toMatchObject({ page: 'bad-link' });
    expect(parseRoute('/r/a%2', '?token=x')).toMatchObject({ page: 'bad-link' });
    expect(parseRoute('/r/x', '?token=x')).toMatchObject({ page: 'bad-link' });
    expect(parseRoute('/nope', '')).toEqual({ page: 'not-found' });
  });
});

describe('api', () => {
  it('turns an error answer into an ApiError with the server text', async () => {
    const fake = (async () => new Response(JSON.stringify({ error: 'invalid token' }), { status: 403 })) as typeof fetch;
    await expect(httpApi(fake).getRoom('abcdef', 'x')).rejects.toEqual(new ApiError(403, 'invalid token'));
    const down = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    await expect(httpApi(down).runtimes()).rejects.toMatchObject({ status: 0 });
  });

  it('has a grammar for every language of the reference runtime list', async () => {
    const runtimes = parseRuntimes(fixture.response.body);
    expect(runtimes.length).toBeGreaterThan(3);
    for (const r of runtimes) expect(hasGrammar(r.language), r.language).toBe(true);
    for (const l of ['ruby', 'go', 'rust', 'typescript']) expect(hasGrammar(l), l).toBe(true);
    expect(languageChoices(runtimes).map((c) => c.language)).toContain('python');
    expect(languageChoices([{ language: 'python', version: '3.9.1', aliases: [] }, { language: 'python', version: '3.11.2', aliases: [] }])[0]?.versions).toEqual(['3.11.2', '3.9.1']);
  });

  it('picks the grammar from the file extension, then the room language', async () => {
    expect(languageKey('main.py', 'c')).toBe('python');
    expect(languageKey('Main', 'java')).toBe('java');
    expect(languageKey('notes.txt', 'python')).toBeNull();
    expect(languageKey('a.h', 'python')).toBe('cpp');
    const ext = await loadLanguage('python');
    expect(ext).toBeTruthy();
    expect(await loadLanguage('nope')).toEqual([]);
  });
});
