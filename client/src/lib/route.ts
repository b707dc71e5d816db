/** Which page a URL shows: the home page, a room (`/r/<id>?token=…`), or a clear "not found". */
import { isRoomId } from '@codex/shared';

/** The parsed location. */
export type Route =
  | { page: 'home' }
  | { page: 'room'; id: string; token: string }
  | { page: 'bad-link'; reason: string }
  | { page: 'not-found' };

/** Parses a pathname and query string into a route; never throws. */
export function parseRoute(pathname: string, search: string): Route {
  if (pathname === '/' || pathname === '' || pathname === '/index.html') return { page: 'home' };
  const m = /^\/r\/([^/]+)\/?$/.exec(pathname);
  if (!m) return { page: 'not-found' };
  let id: string;
  try {
    id = decodeURIComponent(m[1] ?? '');
  } catch {
    return { page: 'bad-link', reason: 'This link is damaged: its room id cannot be read.' };
  }
  if (!isRoomId(id)) return { page: 'bad-link', reason: 'This link is damaged: its room id is not valid.' };
  const token = new URLSearchParams(search).get('token');
  if (!token) return { page: 'bad-link', reason: 'This link has no access token. Ask for the full link again.' };
  return { page: 'room', id, token };
}

/** An absolute URL for a server-relative room path such as `/r/<id>?token=…`. */
export function absoluteUrl(path: string, origin: string): string {
  return new URL(path, origin).toString();
}
