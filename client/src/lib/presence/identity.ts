/**
 * Who I am in a room: a display name chosen once and remembered in localStorage, and a colour
 * derived from it so the same person keeps the same colour on every screen.
 */
import { LIMITS } from '@codex/shared';

const NAME_KEY = 'codex.displayName';

/** What y-codemirror.next reads from awareness to draw a remote cursor's label. */
export interface UserLook {
  name: string;
  color: string;
  colorLight: string;
}

// Dark enough for white label text (>= 4.5:1 contrast) and distinct from one another.
const PALETTE = ['#b3261e', '#1d6b35', '#1f4fa8', '#8a3ea8', '#a14a00', '#00695c', '#ad1457', '#4e5b00', '#5d4037', '#283593'];

/** Trims, collapses whitespace and caps a display name at the contract's 64 characters. */
export function cleanName(raw: string): string {
  return raw.replace(/\s+/g, ' ').trim().slice(0, LIMITS.displayName);
}

/** The remembered display name, or null on a first visit (or when storage is blocked). */
export function loadName(storage: Pick<Storage, 'getItem'> | undefined = globalThis.localStorage): string | null {
  try {
    const v = storage?.getItem(NAME_KEY);
    const name = v ? cleanName(v) : '';
    return name || null;
  } catch {
    return null;
  }
}

/** Remembers a display name; storage failures (private mode) only cost the memory, not the session. */
export function saveName(name: string, storage: Pick<Storage, 'setItem'> | undefined = globalThis.localStorage): void {
  try {
    storage?.setItem(NAME_KEY, cleanName(name));
  } catch {
    /* not remembered, still used */
  }
}

/** A stable colour for a name (FNV-1a hash into the palette). */
export function colorFor(name: string): UserLook {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  const color = PALETTE[h % PALETTE.length] ?? '#1f4fa8';
  return { name, color, colorLight: `${color}33` };
}
