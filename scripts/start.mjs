// npm start: build what is missing or stale (server via tsc -b, the client only when client/dist
// is missing), then run the server in this process so signals reach it directly.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = (cmd) => execSync(cmd, { cwd: root, stdio: 'inherit' });

run('npx tsc -b');
if (!existsSync(new URL('../client/dist/index.html', import.meta.url))) run('npm run build -w client');
await import('../server/dist/main.js');
