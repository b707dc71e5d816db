import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from './helpers/start-server.js';
import { freePort, startServerProcess } from './helpers/server-process.js';
import { connectPeer, createRoom, waitFor, type YjsPeer } from './helpers/yjs-peer.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'codex-crash-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('crash safety of a server child process', () => {
  it('SIGKILL while three clients type: after restart and reconnect all hold the same text with every edit', async () => {
    const port = await freePort();
    const dataDir = tempDir();
    let proc = await startServerProcess(port, dataDir);
    const room = await createRoom(proc.url);
    const typists: YjsPeer[] = [0, 1, 2].map(() => connectPeer(proc.wsUrl, room.id, room.editorToken));
    await Promise.all(typists.map((t) => t.synced()));
    const typed: { mark: string; at: number }[][] = [[], [], []];
    let n = 0;
    const timers = typists.map((t, i) =>
      setInterval(() => {
        const mark = `<c${i}-${n++}>`;
        const text = t.text();
        // Insert only between marks (never inside one), so `includes` finds each mark whole.
        const s = text.toString();
        const gaps = [0];
        for (let k = s.indexOf('>'); k !== -1; k = s.indexOf('>', k + 1)) gaps.push(k + 1);
        text.insert(gaps[Math.floor(Math.random() * gaps.length)] ?? 0, mark);
        typed[i]?.push({ mark, at: Date.now() });
      }, 7),
    );
    await new Promise((r) => setTimeout(r, 1500));
    proc.child.kill('SIGKILL');
    const killedAt = Date.now();
    await proc.exited;
    // Keep the typists offline while we check what the server itself kept.
    for (const t of typists) t.provider.disconnect();
    for (const timer of timers) clearInterval(timer);
    try {
      proc = await startServerProcess(port, dataDir);
      const reader = connectPeer(proc.wsUrl, room.id, room.viewerToken);
      await reader.synced();
      const onDisk = reader.text().toString();
      // Durability: everything typed 300 ms (flush ≤ 50 ms, plus network and a busy CI box) before the kill survived.
      const old = typed.flat().filter((x) => x.at < killedAt - 300);
      expect(old.length).toBeGreaterThan(100);
      const lost = old.filter((x) => !onDisk.includes(x.mark));
      expect(lost.map((x) => x.mark)).toEqual([]);
      // Reconnect: the clients bring back what the server never got; everyone converges.
      for (const t of typists) t.provider.connect();
      await Promise.all(typists.map((t) => t.synced()));
      const all = typed.flat().map((x) => x.mark);
      for (const t of [...typists, reader]) {
        await waitFor(t.doc, () => all.every((m) => t.text().toString().includes(m)), 10_000, 'every edit on every client');
      }
      const texts = [...typists, reader].map((t) => t.text().toString());
      expect(new Set(texts).size).toBe(1);
      reader.destroy();
    } finally {
      for (const t of typists) t.destroy();
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('%s flushes every room (even with a long flush interval) and exits 0', async (signal) => {
    const port = await freePort();
    const dataDir = tempDir();
    const proc = await startServerProcess(port, dataDir, { CODEX_FLUSH_INTERVAL: '60000' });
    const room = await createRoom(proc.url);
    const writer = connectPeer(proc.wsUrl, room.id, room.editorToken);
    const watcher = connectPeer(proc.wsUrl, room.id, room.viewerToken);
    await Promise.all([writer.synced(), watcher.synced()]);
    const mark = `saved by ${signal} `;
    writer.text().insert(0, mark);
    // The watcher seeing it proves the server applied it; the 60 s flush timer has not fired.
    await waitFor(watcher.doc, () => watcher.text().toString().startsWith(mark), 5000, 'relay');
    const closes = [writer, watcher].map(
      (p) => new Promise<number | undefined>((r) => p.provider.once('connection-close', (e: { code?: number } | null) => r(e?.code))),
    );
    proc.child.kill(signal);
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(await Promise.all(closes)).toEqual([1001, 1001]);
    writer.destroy();
    watcher.destroy();
    // Reopen the data directory in-process and read the room back.
    const s = await startServer({ dataDir });
    try {
      const text = await s.server.rooms.withDoc(room.id, (doc) => doc.getMap('files').toJSON());
      expect(JSON.stringify(text)).toContain(mark);
    } finally {
      await s.stop();
    }
  });
});
