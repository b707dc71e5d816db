import { describe, expect, it } from 'vitest';
import { get } from 'svelte/store';
import { ConnectionTracker, closeMessage, wsBase } from '../src/lib/room/connection.js';

describe('connection state', () => {
  it('goes connecting → connected → reconnecting with edits waiting → connected once synced', () => {
    const t = new ConnectionTracker();
    expect(get(t.state)).toEqual({ kind: 'connecting' });
    t.status('connected');
    expect(get(t.state)).toEqual({ kind: 'connected', synced: false });
    t.sync(true);
    t.localUpdate(); // sent straight away: not waiting
    expect(t.pendingEdits).toBe(0);
    t.status('disconnected');
    t.localUpdate();
    t.localUpdate();
    expect(get(t.state)).toEqual({ kind: 'reconnecting', pendingEdits: 2 });
    t.status('connecting');
    expect(get(t.state)).toEqual({ kind: 'reconnecting', pendingEdits: 2 });
    t.status('connected');
    expect(t.pendingEdits).toBe(2); // connected but not synced: not yet exchanged
    t.sync(true);
    expect(get(t.state)).toEqual({ kind: 'connected', synced: true });
    expect(t.pendingEdits).toBe(0);
  });

  it('stays closed after a refusal, with a sentence for people', () => {
    const t = new ConnectionTracker();
    t.closed(4403, 'invalid token');
    t.status('connecting');
    const s = get(t.state);
    expect(s.kind).toBe('closed');
    expect(s.kind === 'closed' && s.message).toMatch(/not valid/);
    expect(closeMessage(4404, '')).toMatch(/does not exist/);
    expect(closeMessage(4999, 'custom')).toBe('custom');
  });

  it('derives ws: or wss: from the page', () => {
    expect(wsBase({ protocol: 'http:', host: 'a:1' })).toBe('ws://a:1');
    expect(wsBase({ protocol: 'https:', host: 'b' })).toBe('wss://b');
  });
});
