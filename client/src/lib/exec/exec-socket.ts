/**
 * The shared run channel (`/api/exec/<roomId>?token=…&name=…`): one WebSocket with automatic
 * reconnection. On reconnect the server replays the current run; the reducer drops whatever it
 * has already applied. Frames the client does not know (a newer server) are ignored, not fatal.
 */
import { CLOSE, parseServerFrame } from '@codex/shared';
import type { ClientFrame, ServerFrame } from '@codex/shared';
import { writable, type Readable } from 'svelte/store';

/** Link state of the exec channel. */
export type ExecLink = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Options of `openExecSocket`. */
export interface ExecSocketOptions {
  base: string;
  roomId: string;
  token: string;
  name: string;
  onFrame(frame: ServerFrame): void;
  /** the WebSocket constructor (tests may pass `ws`) */
  WebSocketImpl?: typeof WebSocket;
}

/** An open exec channel. */
export interface ExecSocket {
  link: Readable<ExecLink>;
  /** Uses a new display name: the socket reconnects with it (the run's replay is deduplicated). */
  rename(name: string): void;
  /** Sends a frame; false when the channel is not open (the caller tells the user). */
  send(frame: ClientFrame): boolean;
  close(): void;
}

/** Opens the exec channel and keeps it open until `close()` or a 44xx refusal. */
export function openExecSocket(o: ExecSocketOptions): ExecSocket {
  const link = writable<ExecLink>('connecting');
  const WS = o.WebSocketImpl ?? WebSocket;
  let ws: WebSocket | null = null;
  let stopped = false;
  let attempts = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let name = o.name;

  const url = (): string => {
    // No `since`: the server replays the current run from seq 0 and the reducer drops what it has seen,
    // which stays right even when a new run began while this socket was away.
    // `hello=1` asks for the hello frame (role, canRun), an opt-in addition to the contract's frames.
    const q = new URLSearchParams({ token: o.token, name, hello: '1' });
    return `${o.base}/api/exec/${encodeURIComponent(o.roomId)}?${q.toString()}`;
  };

  const connect = (): void => {
    if (stopped) return;
    const sock = new WS(url());
    ws = sock;
    sock.onopen = () => {
      attempts = 0;
      link.set('open');
    };
    sock.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data !== 'string') return;
      const parsed = parseServerFrame(ev.data);
      if (parsed.ok) o.onFrame(parsed.frame);
    };
    // Errors are followed by a close, which decides what happens next.
    sock.onerror = () => {};
    sock.onclose = (ev: CloseEvent) => {
      if (stopped || ws !== sock) return;
      if (ev.code === CLOSE.forbidden.code || ev.code === CLOSE.notFound.code) {
        stopped = true;
        link.set('closed');
        return;
      }
      link.set('reconnecting');
      attempts++;
      timer = setTimeout(connect, Math.min(2000, 100 * 2 ** attempts));
    };
  };
  connect();

  return {
    link,
    rename(next) {
      if (next === name || stopped) return;
      name = next;
      // The server learns names at connect time; a normal close makes onclose reconnect with the new one.
      ws?.close(1000);
    },
    send(frame) {
      if (!ws || ws.readyState !== WS.OPEN) return false;
      ws.send(JSON.stringify(frame));
      return true;
    },
    close() {
      stopped = true;
      if (timer) clearTimeout(timer);
      link.set('closed');
      ws?.close(1000);
    },
  };
}
