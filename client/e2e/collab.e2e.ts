/**
 * Two people co-edit and see each other's cursor label; a viewer cannot change the document;
 * a bad link gets a clear page.
 */
import { describe, expect, it } from 'vitest';
import { createRoom, editorText, openRoom, personContext, useSession } from './harness.js';

const session = useSession();

describe('collaboration in the browser', () => {
  it('two editors co-edit and each sees the other’s cursor label', async () => {
    const room = await createRoom(session.server.url, { name: 'Pair', language: 'python' });
    const ana = await openRoom(await personContext(session.browser, 'Ana'), session.server.url, room.ownerUrl);
    const bo = await openRoom(await personContext(session.browser, 'Bo'), session.server.url, room.editorUrl);

    await ana.click('.cm-content');
    await ana.keyboard.press('Control+End');
    await ana.keyboard.type('\n# from Ana');
    await bo.click('.cm-content');
    await bo.keyboard.press('Control+Home');
    await bo.keyboard.type('# from Bo\n');

    await expect.poll(() => editorText(ana), { timeout: 15_000 }).toContain('# from Bo');
    await expect.poll(() => editorText(bo), { timeout: 15_000 }).toContain('# from Ana');
    expect(await editorText(ana)).toBe(await editorText(bo));

    await ana.waitForSelector('.cm-ySelectionInfo:has-text("Bo")', { timeout: 15_000 });
    await bo.waitForSelector('.cm-ySelectionInfo:has-text("Ana")', { timeout: 15_000 });
    // The people list shows both, with roles.
    await expect.poll(async () => (await ana.locator('[data-testid=participant]').allTextContents()).join('|'), { timeout: 10_000 }).toMatch(/Bo.*editor.*connected/);
    await ana.context().close();
    await bo.context().close();
  });

  it('a viewer sees everything read-only and cannot change the document', async () => {
    const room = await createRoom(session.server.url, { language: 'python' });
    const ana = await openRoom(await personContext(session.browser, 'Teacher'), session.server.url, room.ownerUrl);
    const viewer = await openRoom(await personContext(session.browser, 'Student'), session.server.url, room.viewerUrl);
    const before = await editorText(ana);

    expect(await viewer.getAttribute('.cm-content', 'contenteditable')).toBe('false');
    expect(await viewer.textContent('[data-testid=role]')).toMatch(/read-only/);
    await viewer.click('.cm-content');
    await viewer.keyboard.type('hacked');
    await viewer.keyboard.press('Enter');
    // No file actions for a viewer, and the run button is disabled.
    expect(await viewer.locator('button', { hasText: '+ File' }).count()).toBe(0);
    const buttons = await viewer.locator('button').allTextContents();
    const run = viewer.getByRole('button', { name: /^Run (Ctrl\+|⌘\+)Enter/ });
    expect(await run.isDisabled(), buttons.join('|')).toBe(true);

    // The owner's edits still reach the viewer, and the viewer's keystrokes reached no one.
    await ana.click('.cm-content');
    await ana.keyboard.press('Control+End');
    await ana.keyboard.type('\n# owner');
    await expect.poll(() => editorText(viewer), { timeout: 15_000 }).toContain('# owner');
    expect(await editorText(viewer)).not.toContain('hacked');
    expect(await editorText(ana)).toBe(`${before}\n# owner`);
    // The viewer follows the owner by default.
    expect(await viewer.textContent('body')).toMatch(/Following\s+Teacher/);
    await ana.context().close();
    await viewer.context().close();
  });

  it('the home page creates a room and its owner link opens it', async () => {
    const ctx = await personContext(session.browser, 'Host');
    const page = await ctx.newPage();
    await page.goto(session.server.url + '/');
    await page.getByLabel(/Room name/).fill('Friday class');
    await page.waitForSelector('select#room-language');
    await page.selectOption('select#room-language', 'javascript');
    await page.getByRole('button', { name: 'Create room' }).click();
    await page.waitForSelector('text=Your room is ready');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('links-title');
    const links = await Promise.all(['Owner link', 'Editor link', 'Viewer link'].map((l) => page.getByLabel(new RegExp(l)).inputValue()));
    for (const l of links) expect(l).toMatch(new RegExp(`^${session.server.url}/r/[A-Za-z0-9_-]+\\?token=`));
    expect(new Set(links).size).toBe(3);
    await page.getByRole('link', { name: 'Enter the room as owner' }).click();
    await page.waitForSelector('[data-testid=editor][data-ready=true]');
    expect(await page.textContent('h1')).toBe('Friday class');
    expect(await page.textContent('[role=tab][aria-selected=true]')).toMatch(/\.js/);
    expect(await page.textContent('[data-testid=role]')).toBe('owner');
    await ctx.close();
  });

  it('a bad link and an unknown room get a clear page', async () => {
    const room = await createRoom(session.server.url);
    const ctx = await personContext(session.browser, 'Ana');
    const page = await ctx.newPage();
    await page.goto(`${session.server.url}/r/${room.id}?token=wrong-token-value`);
    await page.waitForSelector('h1');
    expect(await page.textContent('h1')).toMatch(/not valid/);
    await page.goto(`${session.server.url}/r/nosuchroom123?token=abc`);
    await page.waitForSelector('h1');
    expect(await page.textContent('h1')).toMatch(/does not exist/);
    await page.goto(`${session.server.url}/r/${room.id}`);
    expect(await page.textContent('h1')).toMatch(/does not work/);
    await ctx.close();
  });
});
