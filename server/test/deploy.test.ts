// The production shape: parses docker-compose.yml, the Dockerfile and .dockerignore and checks
// what docs/operations.md promises about them. No Docker engine runs here, so this is the check
// that the files say what the docs say; the images themselves are built elsewhere.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { configWith, loadConfig, type Config } from '../src/config.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string): string => readFileSync(`${root}${file}`, 'utf8');

// ------------------------------------------------------------------ compose, as compose reads it

/** Compose's `${VAR:-default}` / `${VAR-default}` / `${VAR}` interpolation, with `env` as the environment. */
function interpolate(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(/\$\{([A-Z0-9_]+)(?:(:?-)([^}]*))?\}/g, (_m, name: string, op: string | undefined, fallback: string | undefined) => {
    const value = env[name];
    if (op === ':-') return value === undefined || value === '' ? (fallback ?? '') : value;
    if (op === '-') return value ?? fallback ?? '';
    if (value === undefined) throw new Error(`\${${name}} has no default`);
    return value;
  });
}

function interpolateDeep(value: unknown, env: Readonly<Record<string, string>>): unknown {
  if (typeof value === 'string') return interpolate(value, env);
  if (Array.isArray(value)) return value.map((v) => interpolateDeep(v, env));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateDeep(v, env)]));
  }
  return value;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
function obj(v: unknown, what: string): Obj {
  if (!isObj(v)) throw new Error(`${what} is not a mapping`);
  return v;
}
function strings(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`${what} is not a list of strings`);
  return v;
}
/** `environment:` as a map, whichever of its two forms (map or KEY=value list) is used. */
function envOf(service: Obj): Record<string, string> {
  const e = service.environment;
  if (e === undefined) return {};
  if (Array.isArray(e)) {
    return Object.fromEntries(strings(e, 'environment').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  }
  return Object.fromEntries(Object.entries(obj(e, 'environment')).map(([k, v]) => [k, String(v)]));
}
/** Short-syntax volume `source:target[:mode]`. */
function volumesOf(service: Obj): { source: string; target: string; mode: string | undefined }[] {
  return strings(service.volumes ?? [], 'volumes').map((v) => {
    const [source = '', target = '', mode] = v.split(':');
    return { source, target, mode };
  });
}
/** Compose durations such as `20s`, `1m30s`, in ms. */
function composeDuration(v: unknown): number {
  let ms = 0;
  for (const m of String(v).matchAll(/(\d+)(ms|s|m|h)/g)) ms += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms'];
  return ms;
}

const rawCompose = read('docker-compose.yml');
const compose = obj(interpolateDeep(parseYaml(rawCompose), {}), 'docker-compose.yml');
const services = obj(compose.services, 'services');
const service = (name: string): Obj => obj(services[name], `service ${name}`);
const piston = service('piston');
const installer = service('installer');
const app = service('app');
const namedVolumes = obj(compose.volumes, 'volumes');
const networks = obj(compose.networks, 'networks');
/** The services that run by default (issue 7's scale-out services will sit behind a profile). */
const defaultServices = Object.entries(services).filter(([, s]) => isObj(s) && s.profiles === undefined);

describe('docker-compose.yml', () => {
  it('runs piston, installer and app by default', () => {
    expect(defaultServices.map(([name]) => name).sort()).toEqual(['app', 'installer', 'piston']);
  });

  it('gives every service a restart policy and a healthcheck', () => {
    for (const [name, s] of defaultServices) {
      const svc = obj(s, name);
      expect(['no', 'always', 'on-failure', 'unless-stopped'], `${name}.restart`).toContain(String(svc.restart).split(':')[0]);
      const hc = obj(svc.healthcheck, `${name}.healthcheck`);
      expect(hc.disable, `${name}.healthcheck.disable`).toBeUndefined();
      const test = strings(hc.test, `${name}.healthcheck.test`);
      expect(test[0], `${name}.healthcheck.test`).toBe('CMD');
      expect(test.length, `${name}.healthcheck.test`).toBeGreaterThan(1);
      for (const key of ['interval', 'timeout', 'retries']) expect(hc[key], `${name}.healthcheck.${key}`).toBeDefined();
    }
    // long-running services come back after a crash; the one-shot installer retries on its own
    expect(piston.restart).toBe('unless-stopped');
    expect(app.restart).toBe('unless-stopped');
    expect(installer.restart).toBe('no');
  });

  it('runs Piston privileged, with a tmpfs and its packages on a named volume', () => {
    expect(String(piston.image)).toMatch(/^ghcr\.io\/engineer-man\/piston[:@]/);
    expect(piston.privileged).toBe(true);
    expect(strings(piston.tmpfs, 'piston.tmpfs')).toContain('/tmp:exec');
    expect(volumesOf(piston)).toContainEqual({ source: 'piston-packages', target: '/piston/packages', mode: undefined });
    expect(namedVolumes).toHaveProperty('piston-packages');
  });

  it('keeps Piston port 2000 on the internal network, never published to the host', () => {
    expect(piston.ports).toBeUndefined();
    for (const [name, s] of Object.entries(services)) {
      for (const p of strings(obj(s, name).ports ?? [], `${name}.ports`)) expect(p, `${name} publishes ${p}`).not.toMatch(/(^|:)2000(\/tcp)?$/);
    }
    expect(strings(piston.expose, 'piston.expose')).toContain('2000');
    expect(obj(networks.backend, 'networks.backend').internal).toBe(true);
    for (const s of [piston, installer, app]) expect(strings(s.networks, 'networks')).toContain('backend');
    // only Piston may leave the host's private network (to download packages), jobs still may not
    expect(strings(installer.networks, 'installer.networks')).toEqual(['backend']);
    const healthUrl = strings(obj(piston.healthcheck, 'hc').test, 'test').join(' ');
    expect(healthUrl).toContain('127.0.0.1:2000/api/v2/runtimes');
  });

  it('gives Piston the same limits as the embedded engine, in the form Piston parses', () => {
    const env = envOf(piston);
    // Piston counts networking as disabled only for the exact string "true"
    expect(env.PISTON_DISABLE_NETWORKING).toBe('true');
    const pistonVariables = [
      'PISTON_DISABLE_NETWORKING', 'PISTON_RUN_TIMEOUT', 'PISTON_COMPILE_TIMEOUT', 'PISTON_RUN_CPU_TIME', 'PISTON_COMPILE_CPU_TIME',
      'PISTON_RUN_MEMORY_LIMIT', 'PISTON_COMPILE_MEMORY_LIMIT', 'PISTON_OUTPUT_MAX_SIZE', 'PISTON_MAX_PROCESS_COUNT',
      'PISTON_MAX_OPEN_FILES', 'PISTON_MAX_FILE_SIZE', 'PISTON_MAX_CONCURRENT_JOBS', 'PISTON_LIMIT_OVERRIDES',
      'PISTON_LOG_LEVEL', 'PISTON_BIND_ADDRESS', 'PISTON_DATA_DIRECTORY', 'PISTON_REPO_URL',
    ];
    for (const [name, value] of Object.entries(env)) {
      expect(pistonVariables, `${name} is not a Piston variable`).toContain(name);
      // Piston reads numbers with parseInt: no units such as 10s or 512MiB
      if (name !== 'PISTON_DISABLE_NETWORKING') expect(value, name).toMatch(/^-?\d+$/);
    }
    const seen = loadConfig(env);
    const embedded = configWith();
    const same: (keyof Config)[] = [
      'allowNet', 'runTimeout', 'compileTimeout', 'runCpuTime', 'compileCpuTime', 'runMemoryLimit', 'outputMaxSize',
      'maxProcessCount', 'maxOpenFiles', 'maxFileSize', 'maxConcurrentJobs',
    ];
    for (const key of same) expect(seen[key], key).toEqual(embedded[key]);
    expect(seen.runTimeout).toBe(10_000);
    expect(seen.allowNet).toBe(false);
  });

  it('runs the installer once, after Piston is healthy, with the script mounted read-only', () => {
    expect(strings(installer.command, 'installer.command')).toEqual(['node', '/deploy/install-packages.mjs']);
    expect(volumesOf(installer)).toContainEqual({ source: './deploy', target: '/deploy', mode: 'ro' });
    expect(existsSync(`${root}deploy/install-packages.mjs`)).toBe(true);
    expect(installer.user).toBe('node');
    const env = envOf(installer);
    expect(env.PISTON_URL).toBe('http://piston:2000');
    const packages = (env.PISTON_PACKAGES ?? '').split(/[\s,]+/).filter((s) => s !== '');
    expect(packages.length).toBeGreaterThan(0);
    for (const p of packages) expect(p).toMatch(/^[a-z0-9]+=\d+\.\d+\.\d+$/);
    expect(packages.map((p) => p.split('=')[0])).toEqual(expect.arrayContaining(['python', 'node', 'gcc', 'java', 'bash']));
    expect(obj(installer.depends_on, 'installer.depends_on')).toEqual({ piston: { condition: 'service_healthy' } });
    // the healthcheck reads the file the script keeps fresh, on the tmpfs of a read-only container
    const heartbeat = env.INSTALLER_HEARTBEAT ?? '';
    expect(heartbeat.startsWith('/tmp/')).toBe(true);
    expect(strings(installer.tmpfs, 'installer.tmpfs')).toContain('/tmp');
    expect(installer.read_only).toBe(true);
    expect(strings(obj(installer.healthcheck, 'hc').test, 'test').join(' ')).toContain(`'${heartbeat}'`);
  });

  it('points the app at Piston and keeps its data on a named volume at CODEX_DATA_DIR', () => {
    const env = envOf(app);
    expect(env.PISTON_URL).toBe('http://piston:2000');
    const config = loadConfig(env); // every variable the app gets must be one it accepts
    expect(config.host).toBe('0.0.0.0');
    expect(config.pistonUrls).toEqual(['http://piston:2000']);
    expect(config.dataDir).toBe('/data');
    const data = volumesOf(app).find((v) => v.target === config.dataDir);
    expect(data?.source).toBe('codex-data');
    expect(namedVolumes).toHaveProperty('codex-data');
    expect(data?.mode).toBeUndefined(); // writable
  });

  it('publishes only the app port, on loopback unless CODEX_PUBLISH says otherwise', () => {
    const ports = strings(app.ports, 'app.ports');
    expect(ports).toEqual([`127.0.0.1:3000:${loadConfig(envOf(app)).port}`]);
    const custom = obj(obj(interpolateDeep(parseYaml(rawCompose), { CODEX_PUBLISH: '8080' }), 'c').services, 's');
    expect(strings(obj(custom.app, 'app').ports, 'ports')).toEqual(['8080:3000']);
  });

  it('starts the app after Piston is healthy and the packages are installed', () => {
    expect(obj(app.depends_on, 'app.depends_on')).toEqual({
      piston: { condition: 'service_healthy' },
      installer: { condition: 'service_completed_successfully' },
    });
  });

  it('lets the app shut down gracefully and checks readiness on /readyz', () => {
    expect(app.init).toBe(true);
    expect(composeDuration(app.stop_grace_period)).toBeGreaterThanOrEqual(configWith().shutdownTimeoutMs + 5000);
    expect(composeDuration(app.stop_grace_period)).toBeGreaterThanOrEqual(15_000);
    expect(strings(obj(app.healthcheck, 'hc').test, 'test').join(' ')).toContain('http://127.0.0.1:3000/readyz');
  });

  it('hardens the app container', () => {
    expect(app.read_only).toBe(true);
    expect(strings(app.cap_drop, 'cap_drop')).toEqual(['ALL']);
    expect(strings(app.security_opt, 'security_opt')).toContain('no-new-privileges:true');
    expect(obj(app.build, 'app.build').context).toBe('.');
    // built from this checkout on every `up`, never pulled from a registry under the same name
    expect(app.pull_policy).toBe('build');
  });
});

// ------------------------------------------------------------------ profile `scale` (issue 7)

describe('docker-compose.yml profile scale', () => {
  const scaleNames = ['redis', 'postgres', 'app-1', 'app-2', 'lb'];
  const scaleServices = Object.entries(services).filter(([, s]) => isObj(s) && s.profiles !== undefined);
  const replicas = [service('app-1'), service('app-2')];
  const nginx = read('deploy/nginx-scale.conf');

  it('adds redis, postgres, two app replicas and a balancer, only under the profile', () => {
    expect(scaleServices.map(([n]) => n).sort()).toEqual([...scaleNames].sort());
    for (const [name, s] of scaleServices) {
      expect(strings(obj(s, name).profiles, `${name}.profiles`), name).toEqual(['scale']);
      expect(obj(s, name).restart, `${name}.restart`).toBe('unless-stopped');
      expect(strings(obj(obj(s, name).healthcheck, `${name}.healthcheck`).test, name)[0]).toBe('CMD');
    }
  });

  it('keeps Redis and PostgreSQL on the internal network, never published', () => {
    for (const name of ['redis', 'postgres']) {
      const svc = service(name);
      expect(svc.ports, `${name}.ports`).toBeUndefined();
      expect(strings(svc.networks, `${name}.networks`)).toEqual(['backend']);
    }
    expect(networks.backend).toEqual({ internal: true });
    // PostgreSQL's data survives re-creation
    expect(volumesOf(service('postgres')).map((v) => `${v.source}:${v.target}`)).toContain('codex-pg:/var/lib/postgresql/data');
    expect(namedVolumes).toHaveProperty('codex-pg');
  });

  it('configures both replicas alike: shared Redis and PostgreSQL, Piston, not published', () => {
    const pgEnv = envOf(service('postgres'));
    for (const r of replicas) {
      const env = envOf(r);
      const config = loadConfig(env);
      expect(config.redisUrl).toBe('redis://redis:6379');
      const db = new URL(config.databaseUrl ?? '');
      expect([db.hostname, db.username, decodeURIComponent(db.password), db.pathname.slice(1)])
        .toEqual(['postgres', pgEnv.POSTGRES_USER, pgEnv.POSTGRES_PASSWORD, pgEnv.POSTGRES_DB]);
      expect(config.pistonUrls).toEqual(['http://piston:2000']);
      expect(config.host).toBe('0.0.0.0');
      expect(config.port).toBe(3000);
      // behind lb, per-address limits must count the forwarded client, not lb
      expect(config.trustProxy).toBe(true);
      expect(r.ports, 'replicas are reached through lb only').toBeUndefined();
      const deps = obj(r.depends_on, 'depends_on');
      for (const d of ['redis', 'postgres', 'piston']) expect(obj(deps[d], d).condition).toBe('service_healthy');
      expect(r.read_only).toBe(true);
      expect(strings(r.cap_drop, 'cap_drop')).toEqual(['ALL']);
      expect(composeDuration(r.stop_grace_period)).toBeGreaterThanOrEqual(15_000);
      expect(strings(obj(r.healthcheck, 'hc').test, 'test').join(' ')).toContain('http://127.0.0.1:3000/readyz');
    }
    expect(replicas[0]).toEqual(replicas[1]);
  });

  it('balances both replicas through nginx with WebSocket upgrades, published on loopback', () => {
    const lb = service('lb');
    expect(volumesOf(lb)).toContainEqual({ source: './deploy/nginx-scale.conf', target: '/etc/nginx/conf.d/default.conf', mode: 'ro' });
    expect(strings(lb.ports, 'lb.ports')).toEqual(['127.0.0.1:3080:80']);
    const deps = obj(lb.depends_on, 'lb.depends_on');
    expect(Object.keys(deps).sort()).toEqual(['app-1', 'app-2']);
    expect(nginx).toMatch(/server app-1:3000/);
    expect(nginx).toMatch(/server app-2:3000/);
    expect(nginx).toMatch(/proxy_http_version 1\.1;/);
    expect(nginx).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
    expect(nginx).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
    // long-lived sockets outlive nginx's 60 s default read timeout
    expect(nginx).toMatch(/proxy_read_timeout 1h;/);
    // room links carry tokens in the query string
    expect(nginx).toMatch(/access_log off;/);
  });

  it('is documented with the command that starts it', () => {
    const ops = read('docs/operations.md');
    expect(ops).toContain('docker compose --profile scale up -d --build lb');
    for (const name of [...scaleNames, 'codex-pg']) expect(ops, name).toContain(`\`${name}\``);
  });
});

// ------------------------------------------------------------------ Dockerfile

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string;
  from: string;
  body: Instruction[];
}

/** Instructions grouped by stage; continuation lines joined, comments and the parser directive dropped. */
function parseDockerfile(text: string): Stage[] {
  const lines = text.split('\n').filter((l) => !/^\s*#/.test(l));
  const joined = lines.join('\n').replace(/\\\n/g, ' ');
  const stages: Stage[] = [];
  for (const line of joined.split('\n')) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    const op = m[1].toUpperCase();
    const args = m[2].trim();
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ from: f?.[1] ?? args, name: f?.[2] ?? String(stages.length), body: [] });
    } else {
      stages.at(-1)?.body.push({ op, args });
    }
  }
  return stages;
}

const stages = parseDockerfile(read('Dockerfile'));
const stage = (name: string): Stage => {
  const s = stages.find((x) => x.name === name);
  if (!s) throw new Error(`no stage ${name}`);
  return s;
};
const final = stages.at(-1) as Stage;
const ops = (s: Stage, op: string): string[] => s.body.filter((i) => i.op === op).map((i) => i.args);

describe('Dockerfile', () => {
  it('is multi-stage: toolchain, build, prod-deps, then a slim runtime', () => {
    expect(stages.map((s) => s.name)).toEqual(['toolchain', 'build', 'prod-deps', 'runtime']);
    expect(stage('build').from).toBe('toolchain');
    expect(stage('prod-deps').from).toBe('toolchain');
    // the runtime starts from the plain node image, not from a stage that has compilers in it
    expect(final.from).toBe('${NODE_IMAGE}');
    expect(read('Dockerfile')).toMatch(/^ARG NODE_IMAGE=node:20-[a-z]+-slim$/m);
  });

  it('builds the server and the client in the build stage', () => {
    const runs = ops(stage('build'), 'RUN').join('\n');
    expect(runs).toMatch(/npm ci(\s|$)/);
    expect(runs).toContain('npx tsc -b');
    expect(runs).toContain('npm run build -w client');
    expect(ops(stage('toolchain'), 'RUN').join(' ')).toMatch(/python3 make g\+\+/);
  });

  it('ships only production dependencies', () => {
    expect(ops(stage('prod-deps'), 'RUN').join('\n')).toMatch(/npm ci --omit=dev/);
    expect(ops(final, 'RUN').join('\n')).not.toMatch(/npm (ci|install)/);
    const copies = ops(final, 'COPY');
    for (const c of copies) expect(c, `runtime stage: COPY ${c}`).toMatch(/^--from=/);
    // node_modules only from prod-deps; from build only the compiled output
    for (const c of copies.filter((x) => x.startsWith('--from=build'))) expect(c).toMatch(/^--from=build \/app\/(shared|server|client)\/dist\/ /);
    expect(copies).toContain('--from=prod-deps /app/ ./');
  });

  it('copies the manifest of every workspace before npm ci', () => {
    const workspaces = strings(obj(JSON.parse(read('package.json')), 'package.json').workspaces, 'workspaces');
    const copies = ops(stage('toolchain'), 'COPY');
    for (const w of workspaces) expect(copies).toContain(`${w}/package.json ${w}/`);
    expect(copies).toContain('package.json package-lock.json ./');
  });

  it('runs as the non-root node user with its data directory owned by it', () => {
    const users = ops(final, 'USER');
    expect(users).toEqual(['node']);
    const order = final.body.map((i) => i.op);
    expect(order.indexOf('USER')).toBeLessThan(order.indexOf('CMD'));
    expect(ops(final, 'RUN').join('\n')).toContain('chown node:node /data');
  });

  it('configures the server for a container and matches the compose volume', () => {
    const env = ops(final, 'ENV').join(' ');
    expect(env).toMatch(/HOST=0\.0\.0\.0/);
    expect(env).toMatch(/CODEX_DATA_DIR=\/data/);
    expect(env).toMatch(/NODE_ENV=production/);
    expect(ops(final, 'VOLUME')).toEqual(['["/data"]']);
    expect(volumesOf(app).some((v) => v.target === '/data')).toBe(true);
    expect(ops(final, 'CMD')).toEqual(['["node", "server/dist/main.js"]']);
    expect(ops(final, 'EXPOSE')).toEqual(['3000']);
  });

  it('has a HEALTHCHECK on /readyz that needs only node', () => {
    const [hc] = ops(final, 'HEALTHCHECK');
    expect(hc).toBeDefined();
    expect(hc).toContain('/readyz');
    expect(hc).toMatch(/CMD \["node", "-e"/);
    expect(ops(final, 'STOPSIGNAL')).toEqual(['SIGTERM']);
  });

  it('uses the exec form (valid JSON arrays), so signals reach node without a shell', () => {
    const [hc] = ops(final, 'HEALTHCHECK');
    const execForm = (hc ?? '').slice((hc ?? '').indexOf('CMD ') + 4);
    expect(JSON.parse(execForm)).toEqual(['node', '-e', expect.stringContaining('/readyz')]);
    expect(JSON.parse(ops(final, 'CMD')[0] ?? '')).toEqual(['node', 'server/dist/main.js']);
  });
});

describe('.dockerignore', () => {
  it('keeps dependencies, build output, data and git out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    for (const p of ['.git', '**/node_modules', '**/dist', 'data', 'test-artifacts', '.env']) expect(ignored).toContain(p);
  });
});

// ------------------------------------------------------------------ what the docs promise

describe('docs/operations.md agrees with the compose file', () => {
  const docs = read('docs/operations.md');

  it('names every service, volume and network', () => {
    for (const name of [...defaultServices.map(([n]) => n), ...Object.keys(namedVolumes), ...Object.keys(networks)]) {
      expect(docs, name).toContain(`\`${name}\``);
    }
  });

  it('lists each compose setting with the default the compose file has', () => {
    const section = docs.slice(docs.indexOf('#### Settings of the compose file'), docs.indexOf('#### Adding or removing a language'));
    const rows = section.split('\n').filter((l) => /^\| `[A-Z_]+` \|/.test(l));
    expect(rows.length).toBeGreaterThanOrEqual(8);
    for (const row of rows) {
      const [, name, defaultCell] = row.split('|').map((c) => c.trim());
      const variable = /^`([A-Z_]+)`$/.exec(name ?? '')?.[1];
      const documented = /^`([^`]*)`/.exec(defaultCell ?? '')?.[1];
      expect(variable, row).toBeDefined();
      const inCompose = [...rawCompose.matchAll(new RegExp(`\\$\\{${variable}:-([^}]*)\\}`, 'g'))].map((m) => m[1]);
      expect(inCompose.length, `${variable} is not in docker-compose.yml`).toBeGreaterThan(0);
      for (const d of inCompose) expect(d, variable).toBe(documented);
    }
  });

  it('shows the docker volume name that backups and restores use', () => {
    expect(compose.name).toBe('codex');
    expect(docs).toContain('codex_codex-data');
  });
});
