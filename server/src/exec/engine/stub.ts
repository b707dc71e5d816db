/**
 * The stub a prepared sandbox runs as its pid 1 while it waits for its job (see Sandbox.prepare): it
 * reads NUL-separated fields from fd 6 — `name=soft:hard` rlimits (bytes, seconds), `--`, `K=V`
 * environment entries, `--`, the command — closes the engine's descriptors, starts the command on
 * the job's stdio (fds 7, 8, 9) and waits for it, reporting a signal death as 128+N like bubblewrap's
 * own init (and Piston's bash); the C stub also writes that status back on fd 6 once the job's last
 * process is gone. A tiny C program compiled at engine start (≈0.3 ms to start), or a bash
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
#include <signal.h>
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
  close(3); close(4); close(5);
  /* fd 6 stays open (close-on-exec) for the status report */
  fcntl(6, F_SETFD, FD_CLOEXEC);
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
    /* the job's stdio: fds 7-9 (see Sandbox.prepare) */
    if (dup2(7, 0) < 0 || dup2(8, 1) < 0 || dup2(9, 2) < 0) _exit(126);
    close(7); close(8); close(9);
    execvp(tok[i], tok + i);
    int e = errno;
    fprintf(stderr, "%s: %s\n", tok[i], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
  }
  /* pid 1 lets go of the job's stdio, so the engine sees end-of-output as soon as the job's processes
     are done, then reaps orphans until the program ends; the namespace (and every process in it) ends
     with pid 1 */
  close(7); close(8); close(9);
  int nul = open("/dev/null", O_RDWR);
  if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); dup2(nul, 2); if (nul > 2) close(nul); }
  /* once the program has ended, every other process of the namespace is killed (kill(-1) from its
     init reaches exactly them) and reaped: orphans are all children of pid 1, so ECHILD means the
     job has no process left. Killing again after each reap catches a child forked meanwhile. Only
     then is the status reported on fd 6, so the engine can answer without waiting for the
     namespaces' teardown (an RCU grace period) that follows this process's exit. */
  int status = 0, st, done = 0;
  for (;;) {
    pid_t w = wait(&st);
    if (w < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (w == child) { status = st; done = 1; }
    if (done) kill(-1, SIGKILL);
  }
  if (!done) return 126;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  char msg[16];
  int len = snprintf(msg, sizeof msg, "%d\n", code);
  if (write(6, msg, (size_t)len) < 0) { /* the engine is gone: nothing to tell */ }
  return code;
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
  // as pid 1: run the program on the job's stdio (fds 7-9), let go of them, wait (shell variables are
  // not exported). No status report on fd 6: the engine then takes bwrap's exit, after the teardown.
  '"${A[@]:i}" 0<&7 1>&8 2>&9 7<&- 8>&- 9>&- &',
  'c=$!',
  'exec 0</dev/null 1>/dev/null 2>/dev/null 7<&- 8>&- 9>&-',
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
