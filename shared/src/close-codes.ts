/**
 * WebSocket close codes used by CodeX, one table for server and client.
 * 4403/4404 are fixed by the contract; the rest are ours (4000-4999 is the application range).
 */
export const CLOSE = {
  /** standard: the server is going away (shutdown) */
  goingAway: { code: 1001, reason: 'server shutting down' },
  /** standard: a frame the protocol does not allow */
  protocolError: { code: 1002, reason: 'protocol error' },
  /** standard: a frame that does not parse */
  badData: { code: 1007, reason: 'malformed message' },
  /** standard: message over the size cap */
  tooBig: { code: 1009, reason: 'message too big' },
  /** standard: unexpected server failure for this socket */
  internal: { code: 1011, reason: 'internal error' },
  /** the token is missing or wrong */
  forbidden: { code: 4403, reason: 'invalid token' },
  /** the room does not exist */
  notFound: { code: 4404, reason: 'unknown room' },
  /** the room document would grow past its cap */
  docTooBig: { code: 4413, reason: 'document size limit reached' },
  /** the room holds as many peers as it may */
  roomFull: { code: 4429, reason: 'room is full' },
  /** this client address has too many rooms open */
  tooManyRooms: { code: 4430, reason: 'too many rooms open from this address' },
  /** the peer's unsent backlog grew past what the server buffers; it may reconnect and resync */
  slowPeer: { code: 4508, reason: 'too slow to keep up, reconnect' },
  /** heartbeat: no pong in time */
  timeout: { code: 4408, reason: 'heartbeat timeout' },
} as const satisfies Record<string, { code: number; reason: string }>;

/** A named close of the table above. */
export type CloseName = keyof typeof CLOSE;
