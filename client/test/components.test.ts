import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/svelte';
import FileTabs from '../src/lib/editor/FileTabs.svelte';
import RunPanel from '../src/lib/exec/RunPanel.svelte';
import { applyFrame, initialRunState } from '../src/lib/exec/run-state.js';
import Participants from '../src/lib/presence/Participants.svelte';
import ConnectionBadge from '../src/lib/room/ConnectionBadge.svelte';

afterEach(cleanup);

const files = [
  { id: 'a', name: 'main.py' },
  { id: 'b', name: 'util.py' },
  { id: 'c', name: 'zeta.py' },
];

function tabsProps(over: Record<string, unknown> = {}) {
  return {
    files,
    active: 'a',
    entry: 'a',
    canEdit: true,
    onselect: vi.fn(),
    onadd: vi.fn(() => null),
    onrename: vi.fn(() => null),
    ondelete: vi.fn(() => null),
    onentry: vi.fn(() => null),
    ...over,
  };
}

describe('file tabs', () => {
  it('is a tab list driven by arrow keys, Home and End, with the entry file marked', async () => {
    const props = tabsProps();
    render(FileTabs, { props });
    const tabs = screen.getAllByRole('tab');
    expect(tabs.map((t) => t.getAttribute('tabindex'))).toEqual(['0', '-1', '-1']);
    expect(tabs[0]?.getAttribute('aria-selected')).toBe('true');
    expect(tabs[0]?.textContent).toMatch(/runs first/);
    await fireEvent.keyDown(tabs[0]!, { key: 'ArrowRight' });
    expect(props.onselect).toHaveBeenLastCalledWith('b');
    await fireEvent.keyDown(tabs[0]!, { key: 'ArrowLeft' });
    expect(props.onselect).toHaveBeenLastCalledWith('c');
    await fireEvent.keyDown(tabs[0]!, { key: 'End' });
    expect(props.onselect).toHaveBeenLastCalledWith('c');
  });

  it('adds a file, and shows the reason when a name is refused', async () => {
    const props = tabsProps({ onadd: vi.fn((n: string) => (n === 'main.py' ? 'There is already a file named main.py.' : null)) });
    render(FileTabs, { props });
    await fireEvent.click(screen.getByRole('button', { name: 'Add a file' }));
    const input = screen.getByLabelText('New file name');
    await fireEvent.input(input, { target: { value: 'main.py' } });
    await fireEvent.submit(input.closest('form')!);
    expect((await screen.findByRole('alert')).textContent).toMatch(/already a file/);
    await fireEvent.input(input, { target: { value: 'lib.py' } });
    await fireEvent.submit(input.closest('form')!);
    expect(props.onadd).toHaveBeenLastCalledWith('lib.py');
    expect(screen.queryByLabelText('New file name')).toBeNull();
  });

  it('offers no file actions to a viewer', () => {
    render(FileTabs, { props: tabsProps({ canEdit: false }) });
    expect(screen.queryByRole('button', { name: 'Add a file' })).toBeNull();
    expect(screen.getAllByRole('tab')).toHaveLength(3);
  });
});

describe('run panel', () => {
  const base = {
    choices: [{ language: 'python', versions: ['3.11.2'] }],
    language: 'python',
    version: '3.11.2',
    canConfigure: true,
    waiting: false,
    onrun: vi.fn(),
    onstop: vi.fn(),
    onlanguage: vi.fn(),
    onversion: vi.fn(),
  };

  it('shows who runs, the stage, then the exit code and duration', async () => {
    let s = applyFrame(initialRunState, { type: 'run', run: 'r', by: 'Ana', language: 'python', version: '3.11.2' }).state;
    s = applyFrame(s, { type: 'stage', run: 'r', seq: 0, stage: 'run' }).state;
    const { rerender } = render(RunPanel, { props: { ...base, canRun: true, runState: s } });
    expect(screen.getByTestId('run-status').textContent).toMatch(/Ana's run · running/);
    expect((screen.getByRole('button', { name: /Run/ }) as HTMLButtonElement).disabled).toBe(true);
    expect((screen.getByRole('button', { name: 'Stop' }) as HTMLButtonElement).disabled).toBe(false);
    s = applyFrame(s, { type: 'done', run: 'r', code: 3, signal: null, wall_ms: 1500 }).state;
    await rerender({ ...base, canRun: true, runState: s });
    expect(screen.getByTestId('run-status').textContent).toMatch(/finished · exit code 3 · 1.5 s/);
  });

  it('runs on click; a viewer gets disabled controls and a reason', async () => {
    const onrun = vi.fn();
    const { unmount } = render(RunPanel, { props: { ...base, onrun, canRun: true, runState: initialRunState } });
    const btn = screen.getByRole('button', { name: /Run/ });
    expect(btn.getAttribute('aria-keyshortcuts')).toMatch(/Control\+Enter/);
    await fireEvent.click(btn);
    expect(onrun).toHaveBeenCalledOnce();
    unmount();
    render(RunPanel, { props: { ...base, canRun: false, canConfigure: false, runState: initialRunState } });
    expect((screen.getByRole('button', { name: /Run/ }) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByText(/only editors can run/)).toBeTruthy();
  });
});

describe('participants and connection', () => {
  it('lists roles and connection, and offers Follow for connected others', async () => {
    const onfollow = vi.fn();
    render(Participants, {
      props: {
        people: [
          { clientId: 1, name: 'Me', color: '#000', role: 'editor', connected: true, self: true, view: null },
          { clientId: 2, name: 'Teach', color: '#111', role: 'owner', connected: true, self: false, view: null },
          { clientId: 3, name: 'Gone', color: '#222', role: 'viewer', connected: false, self: false, view: null },
        ],
        following: null,
        onfollow,
        onstop: vi.fn(),
      },
    });
    const rows = screen.getAllByTestId('participant');
    expect(rows.map((r) => r.textContent?.replace(/\s+/g, ' ').trim())).toEqual(['Me (you) editor connected', 'Teach owner connected Follow', 'Gone viewer disconnected']);
    await fireEvent.click(screen.getByRole('button', { name: 'Follow Teach' }));
    expect(onfollow).toHaveBeenCalledWith(2);
  });

  it('always says the connection state, including edits waiting', () => {
    const { rerender } = render(ConnectionBadge, { props: { state: { kind: 'connected', synced: true }, execLink: 'open' } });
    expect(screen.getByRole('status').textContent).toMatch(/Connected/);
    rerender({ state: { kind: 'reconnecting', pendingEdits: 3 }, execLink: 'open' });
    expect(screen.getByRole('status').textContent).toMatch(/Offline: 3 edits waiting/);
  });
});

describe('run history', () => {
  it('lists runs newest first with result, time and an output excerpt', async () => {
    const { default: RunHistory } = await import('../src/lib/exec/RunHistory.svelte');
    render(RunHistory, {
      props: {
        runs: [
          { run: 'r2', by: 'Bo', language: 'python', version: '3.11.2', startedAt: '2026-01-01T10:01:00Z', wall_ms: 3000, code: null, signal: 'SIGKILL', status: 'TO', message: null, output: '' },
          { run: 'r1', by: 'Ana', language: 'python', version: '3.11.2', startedAt: '2026-01-01T10:00:00Z', wall_ms: 84, code: 0, signal: null, status: null, message: null, output: '\x1b[32mhi\x1b[0m\n' },
        ],
      },
    });
    const rows = screen.getAllByRole('row').slice(1);
    expect(rows[0]?.textContent).toMatch(/Bo.*stopped \(SIGKILL\).*3\.0 s.*none/);
    expect(rows[1]?.textContent).toMatch(/Ana.*exit 0.*84 ms/);
    expect(rows[1]?.querySelector('pre')?.textContent).toBe('hi\n');
  });
});
