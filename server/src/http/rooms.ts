/**
 * `POST /api/rooms` and `GET /api/rooms/<id>?token=…` (CONTRACT.md "Rooms"). Input is checked
 * by hand with precise 400 messages; room creation is rate limited per client address.
 */
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import { isRoomId, type CreatedRoom, type RoomInfo } from '@codex/shared';
import type { RoomRegistry } from '../rooms/registry.js';
import { DEFAULT_LANGUAGE, ROOM_LANGUAGES, isRoomLanguage, type RoomLanguage } from '../rooms/starter-files.js';
import { HttpError } from './errors.js';

/** Longest room name, in characters. */
export const MAX_ROOM_NAME = 100;
/** Largest accepted request body of POST /api/rooms. */
const MAX_BODY = '16kb';

/** Settings of the rooms API. */
export interface RoomsApiOptions {
  roomCreatesPerMinute: number;
}

/** Validated body of POST /api/rooms. */
interface CreateRoomBody {
  name: string;
  language: RoomLanguage;
}

/** Checks the JSON body of POST /api/rooms; throws HttpError(400) naming the bad field. */
export function parseCreateRoomBody(body: unknown): CreateRoomBody {
  if (body === undefined || body === null) return { name: 'Untitled room', language: DEFAULT_LANGUAGE };
  if (typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'body must be a JSON object {"name"?, "language"?}');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (key !== 'name' && key !== 'language') throw new HttpError(400, `unknown field "${key}"; allowed: name, language`);
  }
  let name = 'Untitled room';
  if (b.name !== undefined) {
    if (typeof b.name !== 'string') throw new HttpError(400, '"name" must be a string');
    name = b.name.trim();
    if (name.length === 0) throw new HttpError(400, '"name" must not be empty');
    if ([...name].length > MAX_ROOM_NAME) throw new HttpError(400, `"name" must be at most ${MAX_ROOM_NAME} characters`);
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(name)) throw new HttpError(400, '"name" must not contain control characters');
  }
  let language: RoomLanguage = DEFAULT_LANGUAGE;
  if (b.language !== undefined) {
    if (typeof b.language !== 'string') throw new HttpError(400, '"language" must be a string');
    const l = b.language.trim().toLowerCase();
    if (!isRoomLanguage(l)) throw new HttpError(400, `unknown language "${b.language}"; known: ${ROOM_LANGUAGES.join(', ')}`);
    language = l;
  }
  return { name, language };
}

/** Counts events per key in a sliding one-minute window. */
function perMinuteLimiter(limit: number): (key: string) => number | null {
  const hits = new Map<string, number[]>();
  return (key) => {
    const now = Date.now();
    const recent = (hits.get(key) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= limit) {
      hits.set(key, recent);
      return Math.ceil((60_000 - (now - (recent[0] ?? now))) / 1000);
    }
    recent.push(now);
    hits.set(key, recent);
    // Bound memory: forget idle addresses now and then.
    if (hits.size > 10_000) for (const [k, v] of hits) if (v.every((t) => now - t >= 60_000)) hits.delete(k);
    return null;
  };
}

/** The rooms routes over `registry`. */
export function roomRoutes(registry: RoomRegistry, opts: RoomsApiOptions): Router {
  const router = new Router({ prefix: '/api/rooms' });
  const limited = perMinuteLimiter(opts.roomCreatesPerMinute);

  router.post(
    '/',
    bodyParser({
      enableTypes: ['json'],
      jsonLimit: MAX_BODY,
      onError: (err) => {
        const e = err as { status?: number; message: string };
        if (e.status === 413) throw new HttpError(413, `request body larger than ${MAX_BODY}`);
        throw new HttpError(400, `body is not valid JSON: ${e.message}`);
      },
    }),
    async (ctx) => {
      const hasBody = Number(ctx.get('content-length') || '0') > 0 || ctx.get('transfer-encoding') !== '';
      if (hasBody && !ctx.is('json')) throw new HttpError(415, 'send the body as application/json');
      const retryAfter = limited(ctx.ip);
      if (retryAfter !== null) {
        ctx.set('Retry-After', String(retryAfter));
        throw new HttpError(429, `too many rooms created from this address; try again in ${retryAfter} s`);
      }
      const { name, language } = parseCreateRoomBody(ctx.request.body);
      const { id, tokens } = await registry.create(name, language);
      const link = (token: string): string => `/r/${id}?token=${token}`;
      const created: CreatedRoom = {
        id,
        ownerToken: tokens.owner,
        editorToken: tokens.editor,
        viewerToken: tokens.viewer,
        ownerUrl: link(tokens.owner),
        editorUrl: link(tokens.editor),
        viewerUrl: link(tokens.viewer),
      };
      ctx.status = 201;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = created;
    },
  );

  router.get('/:id', async (ctx) => {
    const id = ctx.params.id ?? '';
    if (!isRoomId(id)) throw new HttpError(404, 'unknown room');
    const info: RoomInfo | 'not-found' | 'forbidden' = await registry.info(id, typeof ctx.query.token === 'string' ? ctx.query.token : undefined);
    if (info === 'not-found') throw new HttpError(404, 'unknown room');
    if (info === 'forbidden') throw new HttpError(403, 'invalid token for this room');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = info;
  });

  return router;
}
