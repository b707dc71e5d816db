// @ts-check
// One-shot installer for the `installer` service of docker-compose.yml: waits for Piston, installs
// every package named in PISTON_PACKAGES through POST /api/v2/packages, and exits 0 once all of
// them are present. The app service starts only after this exits 0.
//
// Why it is shaped like this (see /docs/operations.md and Piston's api/src/package.js):
// - Piston fetches its package index on every package request, and an unreachable index makes the
//   whole Piston process exit. Compose restarts it, so every failure here is retried until the
//   deadline instead of being fatal.
// - Packages already listed by GET /api/v2/runtimes are never requested again, so a restart of the
//   stack with the packages on the volume needs no internet and never touches the index.
// - "Already installed" (HTTP 500) counts as success; only "does not exist" (404) is fatal, since
//   retrying a misspelt name cannot help.
//
// Environment:
//   PISTON_URL              base URL of Piston (default http://piston:2000)
//   PISTON_PACKAGES         packages as name=version, separated by spaces or commas
//                           (names are Piston package names: python, node, gcc, java, bash, ...)
//   PISTON_INSTALL_TIMEOUT  seconds before giving up (default 1800)
//   INSTALLER_HEARTBEAT     file rewritten with the current step every few seconds, for the
//                           container healthcheck (default /tmp/installer-heartbeat)
import { writeFileSync } from 'node:fs';

const baseUrl = (process.env.PISTON_URL ?? 'http://piston:2000').replace(/\/+$/, '');
const deadline = Date.now() + 1000 * Number(process.env.PISTON_INSTALL_TIMEOUT ?? 1800);
const heartbeatFile = process.env.INSTALLER_HEARTBEAT ?? '/tmp/installer-heartbeat';
/** Longest single install request: big toolchains (gcc, java) take minutes to download. */
const INSTALL_REQUEST_MS = 15 * 60_000;
const PROBE_REQUEST_MS = 10_000;

/** @param {string} line */
function log(line) {
  process.stdout.write(`installer: ${line}\n`);
}

let step = 'starting';
function beat() {
  try {
    writeFileSync(heartbeatFile, `${new Date().toISOString()} ${step}\n`);
  } catch {
    /* the healthcheck then reports unhealthy, which is the right signal */
  }
}
/** @param {string} s */
function setStep(s) {
  step = s;
  beat();
}
// The heartbeat proves the loop is alive even while one long install request is pending.
const heartbeat = setInterval(beat, 5000);
heartbeat.unref();

/**
 * Parses "python=3.12.0 node=20.11.1,gcc=10.2.0".
 * @param {string} raw
 * @returns {{name: string, version: string}[]}
 */
function parsePackages(raw) {
  const specs = raw.split(/[\s,]+/).filter((s) => s !== '');
  return specs.map((spec) => {
    const m = /^([a-z0-9][a-z0-9._+-]*)=([0-9A-Za-z.*x^~<>= -]+)$/.exec(spec);
    if (!m || m[1] === undefined || m[2] === undefined) {
      log(`PISTON_PACKAGES: "${spec}" is not name=version (for example python=3.12.0)`);
      process.exit(2);
    }
    return { name: m[1], version: m[2] };
  });
}

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The installed runtimes, or null while Piston does not answer.
 * @returns {Promise<{language?: unknown, version?: unknown, runtime?: unknown}[] | null>}
 */
async function runtimes() {
  try {
    const res = await fetch(`${baseUrl}/api/v2/runtimes`, { signal: AbortSignal.timeout(PROBE_REQUEST_MS) });
    if (res.status !== 200) return null;
    const body = await res.json();
    return Array.isArray(body) ? body : null;
  } catch {
    return null;
  }
}

/**
 * A package shows up in /runtimes under its own name (python, bash) or, when it provides other
 * languages, with `runtime` set to the package name (node → javascript, gcc → c, c++).
 * @param {{language?: unknown, version?: unknown, runtime?: unknown}[]} list
 * @param {{name: string, version: string}} pkg
 */
function listed(list, pkg) {
  return list.some((r) => r.version === pkg.version && (r.runtime === pkg.name || r.language === pkg.name));
}

/**
 * @param {{name: string, version: string}} pkg
 * @returns {Promise<'installed' | 'missing' | 'retry'>}
 */
async function install(pkg) {
  let res;
  try {
    res = await fetch(`${baseUrl}/api/v2/packages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ language: pkg.name, version: pkg.version }),
      signal: AbortSignal.timeout(INSTALL_REQUEST_MS),
    });
  } catch (err) {
    // Typically Piston exited because its package index was unreachable; it is restarted.
    log(`${pkg.name}=${pkg.version}: no answer (${err instanceof Error ? err.message : String(err)}); retrying`);
    return 'retry';
  }
  const text = await res.text().catch(() => '');
  /** @type {unknown} */
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON: reported as text below */
  }
  const message =
    typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string' ? body.message : text;
  if (res.status === 200) return 'installed';
  if (res.status === 500 && message === 'Already installed') return 'installed';
  if (res.status === 404) {
    log(`${pkg.name}=${pkg.version}: ${message || 'not in the package index'}`);
    return 'missing';
  }
  log(`${pkg.name}=${pkg.version}: HTTP ${res.status} ${message}; retrying`);
  return 'retry';
}

async function main() {
  const packages = parsePackages(process.env.PISTON_PACKAGES ?? '');
  if (packages.length === 0) {
    log('PISTON_PACKAGES is empty: nothing to install');
    return 0;
  }
  /** Packages Piston confirmed (200 or "Already installed") in this run. */
  const confirmed = new Set();
  // Two backoffs: waiting for Piston to answer at all, and retrying a failed install (each of
  // which may have crashed Piston, so those are spaced out more, up to 10 s apart).
  let waitBackoff = 250;
  let installBackoff = 250;
  let waitingLogged = false;
  setStep(`waiting for ${baseUrl}`);
  while (Date.now() < deadline) {
    const list = await runtimes();
    if (list === null) {
      if (!waitingLogged) log(`waiting for Piston at ${baseUrl}`);
      waitingLogged = true;
      await sleep(waitBackoff);
      waitBackoff = Math.min(waitBackoff * 2, 5000);
      continue;
    }
    waitingLogged = false;
    waitBackoff = 250;
    const missing = packages.filter((p) => !confirmed.has(`${p.name}=${p.version}`) && !listed(list, p));
    const next = missing[0];
    if (next === undefined) {
      setStep('done');
      log(`all ${packages.length} packages present: ${packages.map((p) => `${p.name}=${p.version}`).join(' ')}`);
      return 0;
    }
    setStep(`installing ${next.name}=${next.version}`);
    log(`installing ${next.name}=${next.version} (${missing.length} to go)`);
    const outcome = await install(next);
    if (outcome === 'missing') return 1;
    if (outcome === 'installed') {
      confirmed.add(`${next.name}=${next.version}`);
      log(`${next.name}=${next.version} installed`);
      installBackoff = 250;
    } else {
      await sleep(installBackoff);
      installBackoff = Math.min(installBackoff * 2, 10_000);
    }
  }
  log(`gave up after PISTON_INSTALL_TIMEOUT (${step})`);
  return 1;
}

process.exitCode = await main();
clearInterval(heartbeat);
