/**
 * The client's address for per-address limits. Behind a load balancer every socket comes from
 * the balancer, so with `trustProxy` the address is the last `X-Forwarded-For` entry: the one the
 * nearest proxy appended (entries before it are whatever the client sent, and can be forged).
 */
import type { IncomingMessage } from 'node:http';

/** The address a request came from, seen through one trusted proxy when `trustProxy` is set. */
export function clientAddress(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const header = req.headers['x-forwarded-for'];
    const value = Array.isArray(header) ? header[header.length - 1] : header;
    const last = value?.split(',').pop()?.trim();
    if (last) return last;
  }
  return req.socket.remoteAddress ?? 'unknown';
}
