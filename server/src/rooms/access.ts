/**
 * Capability tokens: each room has one token per role. Tokens carry 256 random bits, are shown
 * once (in the create answer) and stored only as SHA-256 hashes, so a leaked database does not
 * leak access; comparison is timing-safe so a token cannot be guessed byte by byte.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ROLES, type Role } from '@codex/shared';

/** The stored form of a room's three tokens. */
export type TokenHashes = Readonly<Record<Role, Uint8Array>>;

/** A fresh unguessable token: 32 random bytes, base64url (43 characters). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** A fresh room id: 16 random bytes, base64url (22 characters, matches ROOM_ID_PATTERN). */
export function newRoomId(): string {
  return randomBytes(16).toString('base64url');
}

/** SHA-256 of the token's UTF-8 bytes. */
export function hashToken(token: string): Uint8Array {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** New tokens for a room and their hashes. */
export function newRoomTokens(): { tokens: Record<Role, string>; hashes: TokenHashes } {
  const tokens = { owner: newToken(), editor: newToken(), viewer: newToken() };
  const hashes = { owner: hashToken(tokens.owner), editor: hashToken(tokens.editor), viewer: hashToken(tokens.viewer) };
  return { tokens, hashes };
}

/** The role `token` grants, or null. Every role is compared, so timing says nothing about which matched. */
export function roleForToken(hashes: TokenHashes, token: string | null | undefined): Role | null {
  // Tokens longer than any we issue are refused before hashing (no point hashing megabytes).
  if (typeof token !== 'string' || token.length === 0 || token.length > 256) return null;
  const h = hashToken(token);
  let found: Role | null = null;
  for (const role of ROLES) {
    const stored = hashes[role];
    if (stored.length === h.length && timingSafeEqual(stored, h) && found === null) found = role;
  }
  return found;
}
