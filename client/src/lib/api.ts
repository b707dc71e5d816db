/**
 * The HTTP side of CONTRACT.md, typed once: create a room, read a room's metadata, list runtimes.
 * Every failure becomes an `ApiError` carrying the status and the server's `{"error": …}` text,
 * so pages can say exactly what went wrong instead of showing a blank screen.
 */
import type { CreatedRoom, RoomInfo } from '@codex/shared';
import { ROLES } from '@codex/shared';

/** One entry of `GET /api/runtimes` (Piston's runtime list). */
export interface Runtime {
  language: string;
  version: string;
  aliases: string[];
  runtime?: string;
}

/** A failed API call: `status` is 0 when the server could not be reached at all. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The calls the UI makes; components take this as a prop so tests can hand in their own. */
export interface Api {
  createRoom(input: { name?: string; language?: string }): Promise<CreatedRoom>;
  getRoom(id: string, token: string): Promise<RoomInfo>;
  runtimes(): Promise<Runtime[]>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function request(fetcher: typeof fetch, url: string, init?: RequestInit): Promise<unknown> {
  let res: Response;
  try {
    res = await fetcher(url, init);
  } catch {
    throw new ApiError(0, 'The server cannot be reached. Check your connection and try again.');
  }
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    /* a non-JSON body: the status alone speaks */
  }
  if (!res.ok) {
    const msg = isRecord(body) && typeof body.error === 'string' ? body.error : `HTTP ${res.status}`;
    throw new ApiError(res.status, msg);
  }
  return body;
}

function str(o: Record<string, unknown>, key: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new ApiError(502, `the server's answer lacks "${key}"`);
  return v;
}

/** Narrows `POST /api/rooms`'s answer. */
export function parseCreatedRoom(body: unknown): CreatedRoom {
  if (!isRecord(body)) throw new ApiError(502, 'unexpected answer from the server');
  return {
    id: str(body, 'id'),
    ownerToken: str(body, 'ownerToken'),
    editorToken: str(body, 'editorToken'),
    viewerToken: str(body, 'viewerToken'),
    ownerUrl: str(body, 'ownerUrl'),
    editorUrl: str(body, 'editorUrl'),
    viewerUrl: str(body, 'viewerUrl'),
  };
}

/** Narrows `GET /api/rooms/<id>`'s answer. */
export function parseRoomInfo(body: unknown): RoomInfo {
  if (!isRecord(body)) throw new ApiError(502, 'unexpected answer from the server');
  const role = body.role;
  if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
    throw new ApiError(502, 'the server did not say which role this link carries');
  }
  return {
    id: str(body, 'id'),
    name: typeof body.name === 'string' ? body.name : '',
    language: typeof body.language === 'string' ? body.language : '',
    createdAt: typeof body.createdAt === 'string' ? body.createdAt : '',
    role: role as RoomInfo['role'],
  };
}

/** Narrows `GET /api/runtimes`, dropping malformed entries rather than failing the page. */
export function parseRuntimes(body: unknown): Runtime[] {
  if (!Array.isArray(body)) throw new ApiError(502, 'unexpected runtime list');
  const out: Runtime[] = [];
  for (const r of body) {
    if (!isRecord(r) || typeof r.language !== 'string' || typeof r.version !== 'string') continue;
    const aliases = Array.isArray(r.aliases) ? r.aliases.filter((a): a is string => typeof a === 'string') : [];
    out.push({ language: r.language, version: r.version, aliases, ...(typeof r.runtime === 'string' ? { runtime: r.runtime } : {}) });
  }
  return out;
}

/** The real API over `fetch`, relative to the page's origin (the server serves both). */
export function httpApi(fetcher: typeof fetch = (...a) => fetch(...a)): Api {
  return {
    async createRoom(input) {
      const body = await request(fetcher, '/api/rooms', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(input),
      });
      return parseCreatedRoom(body);
    },
    async getRoom(id, token) {
      const body = await request(fetcher, `/api/rooms/${encodeURIComponent(id)}?token=${encodeURIComponent(token)}`);
      return parseRoomInfo(body);
    },
    async runtimes() {
      return parseRuntimes(await request(fetcher, '/api/runtimes'));
    },
  };
}
