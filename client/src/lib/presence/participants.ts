/**
 * The participant list, derived from Yjs awareness. Awareness only holds connected peers, so the
 * list also remembers who was seen and has left, to show them as disconnected rather than forget them.
 */
import type { Role } from '@codex/shared';
import { ROLES } from '@codex/shared';
import type { UserLook } from './identity.js';

/** Where a participant is looking: the file tab and the first visible line (for follow mode). */
export interface ViewState {
  file: string | null;
  top: number;
}

/** Our awareness state: `user` is read by y-codemirror.next; the rest is ours. */
export interface PresenceState {
  user: UserLook;
  role: Role;
  view: ViewState;
}

/** One row of the participant list. */
export interface Participant {
  clientId: number;
  name: string;
  color: string;
  role: Role;
  connected: boolean;
  self: boolean;
  view: ViewState | null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads a peer's awareness state defensively: any peer may send anything. */
export function readPresence(state: unknown): PresenceState | null {
  if (!isRecord(state) || !isRecord(state.user)) return null;
  const { name, color, colorLight } = state.user;
  if (typeof name !== 'string' || typeof color !== 'string') return null;
  const role = typeof state.role === 'string' && (ROLES as readonly string[]).includes(state.role) ? (state.role as Role) : 'viewer';
  let view: ViewState = { file: null, top: 0 };
  if (isRecord(state.view)) {
    view = {
      file: typeof state.view.file === 'string' ? state.view.file : null,
      top: typeof state.view.top === 'number' && Number.isFinite(state.view.top) ? Math.max(0, Math.floor(state.view.top)) : 0,
    };
  }
  return { user: { name, color, colorLight: typeof colorLight === 'string' ? colorLight : color }, role, view };
}

const ROLE_ORDER: Record<Role, number> = { owner: 0, editor: 1, viewer: 2 };

/**
 * Keeps the list across awareness changes: call `update` with the current awareness states; rows of
 * peers that left stay, marked disconnected, unless the same person (name and role) is back online.
 */
export class ParticipantRoster {
  private readonly seen = new Map<number, Participant>();

  constructor(private readonly selfId: number) {}

  /** Recomputes the list from awareness states (clientId → state). */
  update(states: ReadonlyMap<number, unknown>): Participant[] {
    for (const p of this.seen.values()) p.connected = false;
    for (const [clientId, raw] of states) {
      const s = readPresence(raw);
      if (!s) continue;
      this.seen.set(clientId, {
        clientId,
        name: s.user.name,
        color: s.user.color,
        role: s.role,
        connected: true,
        self: clientId === this.selfId,
        view: s.view,
      });
    }
    const online = new Set([...this.seen.values()].filter((p) => p.connected).map((p) => `${p.role}\u0000${p.name}`));
    for (const [id, p] of this.seen) {
      if (!p.connected && online.has(`${p.role}\u0000${p.name}`)) this.seen.delete(id);
    }
    return [...this.seen.values()].sort(
      (a, b) => Number(b.self) - Number(a.self) || Number(b.connected) - Number(a.connected) || ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || a.name.localeCompare(b.name),
    );
  }
}
