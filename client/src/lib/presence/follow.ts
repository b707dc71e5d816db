/**
 * Follow mode, as pure decisions: whom a participant follows (viewers follow the owner unless they
 * stopped), and what following someone asks of the editor (their file tab, their first visible line).
 */
import type { Role } from '@codex/shared';
import type { Participant, ViewState } from './participants.js';

/** The follow choice: nobody, a chosen participant, or "the owner" by default. */
export type FollowChoice = { kind: 'none' } | { kind: 'owner' } | { kind: 'person'; clientId: number };

/** The choice a participant starts with: viewers follow the owner, others nobody. */
export function initialFollow(role: Role): FollowChoice {
  return role === 'viewer' ? { kind: 'owner' } : { kind: 'none' };
}

/** The connected participant a choice designates right now, if any (never oneself). */
export function followTarget(choice: FollowChoice, people: readonly Participant[]): Participant | null {
  const others = people.filter((p) => p.connected && !p.self);
  switch (choice.kind) {
    case 'none':
      return null;
    case 'owner':
      return others.find((p) => p.role === 'owner') ?? null;
    case 'person':
      return others.find((p) => p.clientId === choice.clientId) ?? null;
  }
}

/** What the follower's editor should do for a target's view; null when there is nothing to follow. */
export function followStep(target: ViewState | null, knownFiles: ReadonlySet<string>): { file: string; top: number } | null {
  if (!target || target.file === null || !knownFiles.has(target.file)) return null;
  return { file: target.file, top: target.top };
}
