import { afterEach, describe, expect, it, vi } from 'vitest';
import { get } from 'svelte/store';
import { createAnnouncer, InputWaitDetector } from '../src/lib/a11y/announcer.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('announcements', () => {
  it('makes a repeated sentence a change, so screen readers say it again', () => {
    const a = createAnnouncer();
    a.say('Ana started a run.');
    const first = get(a.message);
    a.say('Ana started a run.');
    expect(get(a.message)).not.toBe(first);
    expect(get(a.message).replace('\u200b', '')).toBe('Ana started a run.');
  });

  it('says the program waits for input after a prompt and a quiet moment, once', () => {
    vi.useFakeTimers();
    const onWaiting = vi.fn();
    const d = new InputWaitDetector(onWaiting, 600);
    d.output('line\n');
    vi.advanceTimersByTime(1000);
    expect(onWaiting).not.toHaveBeenCalled();
    d.output('Name? ');
    vi.advanceTimersByTime(300);
    d.output('more? ');
    vi.advanceTimersByTime(599);
    expect(onWaiting).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onWaiting).toHaveBeenCalledOnce();
    d.output('again? ');
    d.cancel();
    vi.advanceTimersByTime(1000);
    expect(onWaiting).toHaveBeenCalledOnce();
  });
});
