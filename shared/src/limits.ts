/** Defaults shared by server and client (the server's config may override them). */
export const LIMITS = {
  /** longest display name, in characters (CONTRACT.md "Shared execution") */
  displayName: 64,
  /** longest file name, in characters */
  fileName: 255,
  /** largest size of the output excerpt kept in a run summary, in bytes */
  summaryOutput: 1024,
} as const;
