/**
 * Syntax highlighting for every runtime language, loaded on demand: each language package is a
 * dynamic import, so the room page only downloads the grammar of the files it shows.
 */
import { StreamLanguage, type StreamParser } from '@codemirror/language';
import type { Extension } from '@codemirror/state';

/** A loader for one language's CodeMirror support. */
type Loader = () => Promise<Extension>;

// @codemirror/language is in the main chunk already (the editor needs it); only the modes are lazy.
const legacy = async (load: () => Promise<StreamParser<unknown>>): Promise<Extension> => StreamLanguage.define(await load());

/** Grammar loaders by key (a Piston language name or our own family name). */
const LOADERS: Record<string, Loader> = {
  python: async () => (await import('@codemirror/lang-python')).python(),
  javascript: async () => (await import('@codemirror/lang-javascript')).javascript(),
  typescript: async () => (await import('@codemirror/lang-javascript')).javascript({ typescript: true }),
  cpp: async () => (await import('@codemirror/lang-cpp')).cpp(),
  java: async () => (await import('@codemirror/lang-java')).java(),
  go: async () => (await import('@codemirror/lang-go')).go(),
  rust: async () => (await import('@codemirror/lang-rust')).rust(),
  ruby: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/ruby')).ruby),
  shell: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/shell')).shell),
  lua: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/lua')).lua),
  perl: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/perl')).perl),
  kotlin: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/clike')).kotlin),
  csharp: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/clike')).csharp),
  scala: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/clike')).scala),
  haskell: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/haskell')).haskell),
  swift: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/swift')).swift),
  r: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/r')).r),
  pascal: () => legacy(async () => (await import('@codemirror/legacy-modes/mode/pascal')).pascal),
};

/** Piston language names and aliases → loader key. */
const BY_LANGUAGE: Record<string, string> = {
  python: 'python', python3: 'python', py: 'python', python2: 'python',
  javascript: 'javascript', js: 'javascript', node: 'javascript', 'node-js': 'javascript', deno: 'typescript',
  typescript: 'typescript', ts: 'typescript',
  c: 'cpp', 'c++': 'cpp', cpp: 'cpp', gcc: 'cpp', 'g++': 'cpp',
  java: 'java', go: 'go', golang: 'go', rust: 'rust', rs: 'rust',
  ruby: 'ruby', rb: 'ruby', bash: 'shell', sh: 'shell', zsh: 'shell',
  lua: 'lua', perl: 'perl', kotlin: 'kotlin', csharp: 'csharp', 'c#': 'csharp', 'csharp.net': 'csharp',
  scala: 'scala', haskell: 'haskell', swift: 'swift', r: 'r', rscript: 'r', pascal: 'pascal',
};

/** File extensions → loader key; an extension wins over the room's language. */
const BY_EXTENSION: Record<string, string> = {
  py: 'python', js: 'javascript', mjs: 'javascript', cjs: 'javascript', jsx: 'javascript',
  ts: 'typescript', tsx: 'typescript', mts: 'typescript',
  c: 'cpp', h: 'cpp', cc: 'cpp', cpp: 'cpp', cxx: 'cpp', hpp: 'cpp', hh: 'cpp',
  java: 'java', go: 'go', rs: 'rust', rb: 'ruby', sh: 'shell', bash: 'shell',
  lua: 'lua', pl: 'perl', kt: 'kotlin', cs: 'csharp', scala: 'scala', hs: 'haskell', swift: 'swift', r: 'r', pas: 'pascal',
};

/** The grammar key for a file, from its extension, else from the room's language; null for plain text. */
export function languageKey(fileName: string, roomLanguage: string): string | null {
  const dot = fileName.lastIndexOf('.');
  const ext = dot >= 0 ? fileName.slice(dot + 1).toLowerCase() : '';
  if (ext) return BY_EXTENSION[ext] ?? null;
  return BY_LANGUAGE[roomLanguage.toLowerCase()] ?? null;
}

/** True when every language name has a grammar (used by tests over the runtime list). */
export function hasGrammar(language: string): boolean {
  return BY_LANGUAGE[language.toLowerCase()] !== undefined;
}

const cache = new Map<string, Promise<Extension>>();
const loaded = new Map<string, Extension>();

/** A grammar already downloaded (so a new editor state can start with it), else null. */
export function loadedLanguage(key: string | null): Extension | null {
  return key === null ? [] : (loaded.get(key) ?? null);
}

/** Loads a grammar once; a failed download yields plain text rather than a broken editor. */
export function loadLanguage(key: string | null): Promise<Extension> {
  if (key === null) return Promise.resolve([]);
  const loader = LOADERS[key];
  if (!loader) return Promise.resolve([]);
  let p = cache.get(key);
  if (!p) {
    p = loader().then(
      (ext) => {
        loaded.set(key, ext);
        return ext;
      },
    ).catch(() => {
      cache.delete(key);
      return [];
    });
    cache.set(key, p);
  }
  return p;
}
