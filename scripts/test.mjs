// npm test: type-check every workspace, run every vitest project, then print one plain summary
// line ("tests: N passed, N failed, N skipped") that CI reads to count the tests.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const step = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status ?? 1;

if (step('npm', ['run', '--silent', 'typecheck']) !== 0) {
  console.log('tests: 0 passed, 1 failed (type check)');
  process.exit(1);
}
const out = path.join(mkdtempSync(path.join(tmpdir(), 'codex-vitest-')), 'report.json');
const code = step('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)]);
let summary = 'tests: no report';
try {
  const r = JSON.parse(readFileSync(out, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  summary = `tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`;
} catch {
  /* vitest crashed before writing its report; the exit code says so */
}
console.log(summary);
process.exit(code);
