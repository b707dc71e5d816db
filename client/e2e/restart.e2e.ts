/**
 * The server restarts while two editors type: their edits made while it was down wait (the header
 * says so) and arrive once it is back, for both of them and for someone who opens the room later.
 */
import { describe, expect, it } from 'vitest';
import { createRoom, editorText, openRoom, personContext, startServer, useSession } from './harness.js';

const session = useSession();

describe('server restart', () => {
  it('edits typed while the server is down arrive after it restarts', async () => {
    const room = await createRoom(session.server.url, { language: 'python' });
    const ana = await openRoom(await personContext(session.browser, 'Ana'), session.server.url, room.ownerUrl);
    const bo = await openRoom(await personContext(session.browser, 'Bo'), session.server.url, room.editorUrl);

    const { port, dataDir } = session.server;
    await session.server.stop();
    await expect.poll(() => ana.getAttribute('[data-testid=connection]', 'data-state'), { timeout: 15_000 }).not.toBe('connected');

    await ana.click('.cm-content');
    await ana.keyboard.press('Control+End');
    await ana.keyboard.type('\n# offline from Ana');
    await bo.click('.cm-content');
    await bo.keyboard.press('Control+Home');
    await bo.keyboard.type('# offline from Bo\n');
    await expect.poll(() => ana.textContent('[data-testid=connection]'), { timeout: 10_000 }).toMatch(/edits? waiting/);
    expect(await ana.textContent('[data-testid=connection]')).toMatch(/Offline/);

    session.server = await startServer({ port, dataDir });
    for (const page of [ana, bo]) {
      await expect.poll(() => page.getAttribute('[data-testid=connection]', 'data-state'), { timeout: 30_000 }).toBe('connected');
      await expect.poll(() => editorText(page), { timeout: 30_000 }).toMatch(/^# offline from Bo\n[\s\S]*# offline from Ana$/);
    }
    expect(await ana.textContent('[data-testid=connection]')).toMatch(/Connected/);

    // Someone opening the room now gets both edits from the server.
    const cy = await openRoom(await personContext(session.browser, 'Cy'), session.server.url, room.viewerUrl);
    await expect.poll(() => editorText(cy), { timeout: 15_000 }).toBe(await editorText(ana));
    await ana.context().close();
    await bo.context().close();
    await cy.context().close();
  });
});
