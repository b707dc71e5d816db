/**
 * The stub a prepared sandbox runs as its pid 1 while it waits for its job (see Sandbox.prepare): it
 * reads NUL-separated fields from fd 6 — `name=soft:hard` rlimits (bytes, seconds), `--`, `K=V`
 * environment entries, `--`, the command — closes the engine's descriptors, starts the command and
 * waits for it, reporting a signal death as 128+N like bubblewrap's own init (and Piston's bash). A tiny C program compiled at engine start (≈0.3 ms to start), or a bash
 * script with the same protocol where no C compiler is installed (≈2 ms).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

const C_SOURCE = String.raw`
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
static char buf[8 << 20];
static char *tok[1 << 16];
static int resource(const char *s) {
  if (!strcmp(s, "nofile")) return RLIMIT_NOFILE;
  if (!strcmp(s, "core")) return RLIMIT_CORE;
  if (!strcmp(s, "fsize")) return RLIMIT_FSIZE;
  if (!strcmp(s, "cpu")) return RLIMIT_CPU;
  if (!strcmp(s, "as")) return RLIMIT_AS;
  if (!strcmp(s, "nproc")) return RLIMIT_NPROC;
  return -1;
}
int main(void) {
  size_t n = 0;
  ssize_t r;
  while ((r = read(6, buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)r;
  if (r < 0 || n == 0) return 126;
  buf[n] = 0;
  int k = 0;
  for (size_t p = 0; p < n && k < (1 << 16) - 1; p += strlen(buf + p) + 1) tok[k++] = buf + p;
  tok[k] = 0;
  close(3); close(4); close(5); close(6);
  int i = 0;
  for (; i < k && strcmp(tok[i], "--"); i++) {
    char *eq = strchr(tok[i], '=');
    if (!eq) return 126;
    *eq = 0;
    int res = resource(tok[i]);
    char *colon;
    struct rlimit rl;
    rl.rlim_cur = strtoull(eq + 1, &colon, 10);
    rl.rlim_max = *colon == ':' ? strtoull(colon + 1, 0, 10) : rl.rlim_cur;
    if (res < 0 || setrlimit(res, &rl)) return 126;
  }
  for (i++; i < k && strcmp(tok[i], "--"); i++) putenv(tok[i]);
  i++;
  if (i >= k) return 126;
  pid_t child = fork();
  if (child < 0) return 126;
  if (child == 0) {
    execvp(tok[i], tok + i);
    int e = errno;
    fprintf(stderr, "%s: %s\n", tok[i], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
  }
  /* pid 1 lets go of the job's stdio, so the engine sees end-of-output as soon as the job's processes
     are done, then reaps orphans until the program ends; the namespace (and every process in it) ends
     with pid 1 */
  int nul = open("/dev/null", O_RDWR);
  if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); dup2(nul, 2); if (nul > 2) close(nul); }
  int status;
  for (;;) {
    pid_t w = wait(&status);
    if (w == child) break;
    if (w < 0 && errno != EINTR) return 126;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}
`;

/** The same protocol in bash, for hosts without a C compiler. */
export const BASH_STUB = [
  "mapfile -d '' -t A <&6 || exit 126",
  'exec 3<&- 4<&- 5<&- 6<&-',
  'i=0; n=${#A[@]}',
  'while (( i < n )) && [[ ${A[i]} != -- ]]; do',
  '  t=${A[i]}; k=${t%%=*}; v=${t#*=}; s=${v%%:*}; h=${v#*:}',
  '  case $k in nofile) f=-n d=1;; core) f=-c d=1024;; fsize) f=-f d=1024;; cpu) f=-t d=1;; as) f=-v d=1024;; nproc) f=-u d=1;; *) exit 126;; esac',
  '  ulimit -S $f $((s / d)) && ulimit -H $f $((h / d)) || exit 126', // soft first: hard may not go below it
  '  i=$((i+1))',
  'done; i=$((i+1))',
  'while (( i < n )) && [[ ${A[i]} != -- ]]; do export "${A[i]}"; i=$((i+1)); done; i=$((i+1))',
  // as pid 1: run the program, let go of the job's stdio, wait (shell variables are not exported)
  '"${A[@]:i}" 0<&0 &',
  'c=$!',
  'exec 0</dev/null 1>/dev/null 2>/dev/null',
  'wait $c',
].join('\n');

/** Compiles the C stub into `dir`; null (use BASH_STUB) when that fails. */
export async function buildStub(dir: string): Promise<string | null> {
  const src = path.join(dir, 'stub.c');
  const bin = path.join(dir, 'stub');
  await writeFile(src, C_SOURCE);
  return new Promise((resolve) => {
    execFile('/usr/bin/gcc', ['-O2', '-o', bin, src], { timeout: 30_000, env: { PATH: '/usr/bin:/bin' } }, (err) => resolve(err ? null : bin));
  });
}
