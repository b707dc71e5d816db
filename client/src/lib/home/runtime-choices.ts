/** Turns Piston's runtime list into picker choices: one entry per language, newest version first. */
import type { Runtime } from '../api.js';

/** One language of the picker, with its versions newest first. */
export interface LanguageChoice {
  language: string;
  versions: string[];
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => Number.parseInt(x, 10));
  const pb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (Number.isFinite(d) && d !== 0) return d;
  }
  return a.localeCompare(b);
}

/** Groups runtimes by language, sorted by language name. */
export function languageChoices(runtimes: readonly Runtime[]): LanguageChoice[] {
  const by = new Map<string, Set<string>>();
  for (const r of runtimes) {
    const set = by.get(r.language) ?? new Set<string>();
    set.add(r.version);
    by.set(r.language, set);
  }
  return [...by.entries()]
    .map(([language, versions]) => ({ language, versions: [...versions].sort((a, b) => compareVersions(b, a)) }))
    .sort((a, b) => a.language.localeCompare(b.language));
}
