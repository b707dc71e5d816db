/** Room identity, roles and the shape of the room document (CONTRACT.md "Rooms", "Document sync"). */

/** The three capabilities a room token can carry, strongest first. */
export const ROLES = ['owner', 'editor', 'viewer'] as const;
/** A participant's capability in a room. */
export type Role = (typeof ROLES)[number];

/** True for roles that may change the document and drive runs. */
export function canEdit(role: Role): boolean {
  return role === 'owner' || role === 'editor';
}

/** Room ids: URL-safe, 6..64 characters, so they can sit in paths and file names unescaped. */
export const ROOM_ID_PATTERN = /^[A-Za-z0-9_-]{6,64}$/;

/** True when `id` is a syntactically valid room id. */
export function isRoomId(id: string): boolean {
  return ROOM_ID_PATTERN.test(id);
}

/** Names of the top-level shared types in a room's Y.Doc. */
export const DOC_KEYS = {
  /** `Y.Map<Y.Map>`: file id → { name: string, text: Y.Text } */
  files: 'files',
  /** `Y.Map`: language, version, entry, and room settings */
  room: 'room',
  /** `Y.Array<RunSummary>`: one summary per finished run, newest last */
  runs: 'runs',
} as const;

/** Keys inside each file's Y.Map. */
export const FILE_KEYS = { name: 'name', text: 'text' } as const;

/** Keys inside the `room` Y.Map. */
export const ROOM_KEYS = {
  language: 'language',
  version: 'version',
  entry: 'entry',
  /** display name of the room */
  name: 'name',
  /** boolean: the owner lets viewers run and type input */
  viewersCanRun: 'viewersCanRun',
} as const;

/** Answer of `POST /api/rooms`. */
export interface CreatedRoom {
  id: string;
  ownerToken: string;
  editorToken: string;
  viewerToken: string;
  ownerUrl: string;
  editorUrl: string;
  viewerUrl: string;
}

/** Answer of `GET /api/rooms/<id>?token=…`: public metadata and the caller's role. */
export interface RoomInfo {
  id: string;
  name: string;
  language: string;
  createdAt: string;
  role: Role;
}

/** One finished run as stored in the document's `runs` array. */
export interface RunSummary {
  run: string;
  by: string;
  language: string;
  version: string;
  startedAt: string;
  wall_ms: number;
  code: number | null;
  signal: string | null;
  status: string | null;
  message: string | null;
  /** the first KiB of the run's output (stdout and stderr interleaved) */
  output: string;
}
