import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import type { CreatedRoom, RoomInfo } from '@codex/shared';
import { ApiError, type Api, type Runtime } from '../src/lib/api.js';
import Home from '../src/lib/home/Home.svelte';
import RoomPage from '../src/lib/room/RoomPage.svelte';

afterEach(cleanup);
// jsdom has no canvas; the room mounted by the last test loads xterm, which probes one. Quiet, not faked behaviour.
HTMLCanvasElement.prototype.getContext = (() => null) as typeof HTMLCanvasElement.prototype.getContext;

const created: CreatedRoom = {
  id: 'room123',
  ownerToken: 'o',
  editorToken: 'e',
  viewerToken: 'v',
  ownerUrl: '/r/room123?token=o',
  editorUrl: '/r/room123?token=e',
  viewerUrl: '/r/room123?token=v',
};

/** A stand-in for the server's HTTP API: component tests check rendering; the browser suite uses the real one. */
function fakeApi(over: Partial<Api> = {}): Api & { calls: unknown[] } {
  const calls: unknown[] = [];
  const runtimes: Runtime[] = [
    { language: 'python', version: '3.11.2', aliases: ['py'] },
    { language: 'c', version: '12.2.0', aliases: [] },
  ];
  return {
    calls,
    createRoom: async (input) => {
      calls.push(input);
      return created;
    },
    getRoom: async (): Promise<RoomInfo> => ({ id: 'room123', name: 'x', language: 'python', createdAt: '', role: 'owner' }),
    runtimes: async () => runtimes,
    ...over,
  };
}

describe('home page', () => {
  it('creates a room with a name and language and shows the three links with their audience', async () => {
    const api = fakeApi();
    render(Home, { props: { api } });
    await waitFor(() => expect(screen.getByLabelText('Language').tagName).toBe('SELECT'));
    const select = screen.getByLabelText('Language') as HTMLSelectElement;
    expect(select.options.length).toBe(2);
    await fireEvent.input(screen.getByLabelText(/Room name/), { target: { value: 'Lesson 3' } });
    await fireEvent.change(select, { target: { value: 'c' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Create room' }));
    await screen.findByText('Your room is ready');
    expect(api.calls).toEqual([{ name: 'Lesson 3', language: 'c' }]);
    expect((screen.getByLabelText(/Owner link/) as HTMLInputElement).value).toMatch(/\/r\/room123\?token=o$/);
    expect((screen.getByLabelText(/Editor link/) as HTMLInputElement).value).toMatch(/token=e$/);
    expect((screen.getByLabelText(/Viewer link/) as HTMLInputElement).value).toMatch(/token=v$/);
    expect(screen.getByText(/for people who watch/)).toBeTruthy();
    expect(screen.getAllByRole('button', { name: /Copy the/ })).toHaveLength(3);
  });

  it('says why a room could not be created', async () => {
    render(Home, { props: { api: fakeApi({ createRoom: async () => Promise.reject(new ApiError(400, 'unknown language "cobol"')) }) } });
    await fireEvent.click(screen.getByRole('button', { name: 'Create room' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/unknown language "cobol"/);
  });

  it('refuses a pasted link that is not a room link', async () => {
    render(Home, { props: { api: fakeApi() } });
    await fireEvent.input(screen.getByLabelText('Room link'), { target: { value: 'https://example.com/r/abcdef' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Open' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/no access token/);
  });
});

describe('room page', () => {
  it('shows a clear page for a wrong or expired token', async () => {
    render(RoomPage, { props: { api: fakeApi({ getRoom: async () => Promise.reject(new ApiError(403, 'invalid token')) }), id: 'room123', token: 'bad' } });
    expect(await screen.findByRole('heading', { name: 'This link is not valid' })).toBeTruthy();
    expect(screen.getByRole('link', { name: /home page/ })).toBeTruthy();
  });

  it('shows a clear page for an unknown room', async () => {
    render(RoomPage, { props: { api: fakeApi({ getRoom: async () => Promise.reject(new ApiError(404, 'unknown room')) }), id: 'room123', token: 't' } });
    expect(await screen.findByRole('heading', { name: 'This room does not exist' })).toBeTruthy();
  });

  it('asks for a display name once and remembers it', async () => {
    localStorage.clear();
    render(RoomPage, { props: { api: fakeApi({ getRoom: () => new Promise(() => {}) }), id: 'room123', token: 't' } });
    expect(await screen.findByText('Opening the room…')).toBeTruthy();
    cleanup();
    render(RoomPage, { props: { api: fakeApi({ getRoom: async () => ({ id: 'room123', name: 'Lesson', language: 'python', createdAt: '', role: 'viewer' }) }), id: 'room123', token: 't' } });
    await screen.findByRole('heading', { name: /Join “Lesson”/ });
    await fireEvent.input(screen.getByLabelText('Your name'), { target: { value: '  Ana ' } });
    // Saving mounts the room, which opens sockets to the page's host; only the stored name matters here.
    localStorage.setItem('codex.displayName', 'x');
    await fireEvent.click(screen.getByRole('button', { name: 'Save name' }));
    expect(localStorage.getItem('codex.displayName')).toBe('Ana');
    expect(screen.getByTestId('my-name').textContent).toBe('Ana');
    cleanup();
  });
});
