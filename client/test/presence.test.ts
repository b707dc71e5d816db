import { describe, expect, it } from 'vitest';
import { followStep, followTarget, initialFollow } from '../src/lib/presence/follow.js';
import { cleanName, colorFor, loadName, saveName } from '../src/lib/presence/identity.js';
import { ParticipantRoster, readPresence } from '../src/lib/presence/participants.js';

const state = (name: string, role: string, file: string | null = null, top = 1): unknown => ({ user: colorFor(name), role, view: { file, top } });

describe('identity', () => {
  it('remembers a cleaned display name and gives each name a stable colour', () => {
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    expect(loadName(storage)).toBeNull();
    saveName('  Ana   Lima ', storage);
    expect(loadName(storage)).toBe('Ana Lima');
    expect(cleanName('x'.repeat(100))).toHaveLength(64);
    expect(colorFor('Ana')).toEqual(colorFor('Ana'));
    expect(colorFor('Ana').color).toMatch(/^#[0-9a-f]{6}$/);
  });

  it('survives storage that throws (private mode)', () => {
    const broken = { getItem: () => { throw new Error('blocked'); }, setItem: () => { throw new Error('blocked'); } };
    expect(loadName(broken)).toBeNull();
    expect(() => saveName('Ana', broken)).not.toThrow();
  });
});

describe('participants', () => {
  it('reads awareness defensively', () => {
    expect(readPresence(null)).toBeNull();
    expect(readPresence({ user: { name: 3 } })).toBeNull();
    expect(readPresence({ user: { name: 'A', color: '#000' }, role: 'admin', view: { top: -5 } })).toEqual({
      user: { name: 'A', color: '#000', colorLight: '#000' },
      role: 'viewer',
      view: { file: null, top: 0 },
    });
  });

  it('lists self first, marks those who left as disconnected, and drops them when they are back', () => {
    const roster = new ParticipantRoster(1);
    let list = roster.update(new Map([[2, state('Bo', 'viewer')], [1, state('Ana', 'owner')], [3, state('Cy', 'editor')]]));
    expect(list.map((p) => `${p.name}:${p.connected}`)).toEqual(['Ana:true', 'Cy:true', 'Bo:true']);
    list = roster.update(new Map([[1, state('Ana', 'owner')], [3, state('Cy', 'editor')]]));
    expect(list.find((p) => p.name === 'Bo')?.connected).toBe(false);
    list = roster.update(new Map([[1, state('Ana', 'owner')], [3, state('Cy', 'editor')], [9, state('Bo', 'viewer')]]));
    expect(list.filter((p) => p.name === 'Bo')).toHaveLength(1);
    expect(list.find((p) => p.name === 'Bo')?.clientId).toBe(9);
  });
});

describe('follow', () => {
  it('viewers follow the owner by default; others follow nobody', () => {
    expect(initialFollow('viewer')).toEqual({ kind: 'owner' });
    expect(initialFollow('editor')).toEqual({ kind: 'none' });
  });

  it('finds the target among connected others and steps to their file and line', () => {
    const roster = new ParticipantRoster(5);
    const people = roster.update(new Map([[5, state('Me', 'viewer')], [1, state('Teach', 'owner', 'f1', 40)], [2, state('Bo', 'editor', 'f2', 3)]]));
    const owner = followTarget({ kind: 'owner' }, people);
    expect(owner?.name).toBe('Teach');
    expect(followTarget({ kind: 'person', clientId: 2 }, people)?.name).toBe('Bo');
    expect(followTarget({ kind: 'person', clientId: 5 }, people)).toBeNull();
    expect(followStep(owner?.view ?? null, new Set(['f1']))).toEqual({ file: 'f1', top: 40 });
    expect(followStep(owner?.view ?? null, new Set(['other']))).toBeNull();
  });
});
