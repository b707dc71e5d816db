/**
 * A message sent to many peers, framed once. `ws.send` re-frames its data for every socket
 * and writes header and payload as two chunks (cork + writev); for a room of 300 that is 300
 * header allocations and 300 writev calls per keystroke. Here the complete WebSocket frame is
 * built once (with ws's own `Sender.frame`) and the same buffer is written to each socket.
 * The shortcut is only taken when it is exactly what ws would do: socket open, no extension
 * negotiated (the server disables permessage-deflate) and nothing queued in ws's sender;
 * otherwise it falls back to `ws.send`.
 */
import type { Duplex } from 'node:stream';
import * as wsModule from 'ws';
import { WebSocket } from 'ws';

/** The internals of a ws socket this module relies on (ws 8). */
interface WsInternals {
  _socket?: Duplex | null;
  _sender?: { _state?: unknown } | null;
}

/** ws's frame builder: exported by ws's ESM wrapper (`Sender`), absent from @types/ws. */
const Sender = (wsModule as unknown as {
  Sender: { frame(data: Buffer, opts: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[] };
}).Sender;
if (typeof Sender?.frame !== 'function') throw new Error('ws no longer exports Sender.frame; update rooms/outgoing.ts');

/** One outgoing binary message, with its frame built on first use. */
export class Outgoing {
  private framed: Buffer | null = null;

  constructor(readonly data: Uint8Array) {}

  /** The complete unmasked binary frame (FIN, opcode 2). */
  get frame(): Buffer {
    if (this.framed === null) {
      const parts = Sender.frame(Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength), {
        fin: true, opcode: 2, mask: false, readOnly: false, rsv1: false,
      });
      this.framed = Buffer.concat(parts);
    }
    return this.framed;
  }

  /** Sends this message on `ws` (open sockets only). */
  sendTo(ws: WebSocket): void {
    const raw = ws as unknown as WsInternals;
    const socket = raw._socket;
    if (ws.readyState === WebSocket.OPEN && ws.extensions === '' && socket && !socket.destroyed && raw._sender?._state === 0) {
      socket.write(this.frame);
      return;
    }
    ws.send(this.data);
  }
}
