/**
 * A shared run: one person runs a Python program that reads a line, the other types the line, and
 * both terminals show the same text. Saves a screenshot of the room with two people and the
 * finished run as a test artifact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { artifactPath, createRoom, editorText, launchBrowser, openRoom, personContext, startServer, terminalText, waitReady, type ServerHandle } from './harness.js';

let server: ServerHandle;
let browser: Browser;

beforeAll(async () => {
  server = await startServer();
  await waitReady(server.url);
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

const PROGRAM = 'name = input("Name? ")\nprint("Hello, " + name + "!")\nimport sys\nprint("\\x1b[32mgreen\\x1b[0m and an error", file=sys.stderr)\n';

describe('shared run in the browser', () => {
  it('one runs a program reading a line, the other types it; both terminals show the same text', async () => {
    const room = await createRoom(server.url, { name: 'Run together', language: 'python' });
    const ana = await openRoom(await personContext(browser, 'Ana'), server.url, room.ownerUrl);
    const bo = await openRoom(await personContext(browser, 'Bo'), server.url, room.editorUrl);
    await ana.waitForSelector('[data-testid=terminal][data-ready=true]');
    await bo.waitForSelector('[data-testid=terminal][data-ready=true]');

    // Replace the starter file with the program.
    await ana.click('.cm-content');
    await ana.keyboard.press('Control+a');
    await ana.keyboard.press('Delete');
    await ana.keyboard.insertText(PROGRAM);
    await expect.poll(() => editorText(bo), { timeout: 15_000 }).toBe(PROGRAM.replace(/\n$/, '') + '\n');

    // Ana runs with the keyboard shortcut, from the editor.
    await ana.keyboard.press('Control+Enter');
    await expect.poll(() => bo.textContent('[data-testid=run-status]'), { timeout: 30_000 }).toMatch(/Ana's run/);
    await expect.poll(() => terminalText(bo), { timeout: 30_000 }).toContain('Name?');
    // Assistive technology hears that the program waits for input.
    await expect.poll(() => bo.textContent('[data-testid=announcer]'), { timeout: 10_000 }).toMatch(/waiting for input/);

    // Bo types the line in the shared terminal.
    await bo.click('[data-testid=terminal]');
    await bo.keyboard.type('Bo');
    await bo.keyboard.press('Enter');

    await expect.poll(() => terminalText(ana), { timeout: 30_000 }).toContain('Hello, Bo!');
    await expect.poll(() => ana.textContent('[data-testid=run-status]'), { timeout: 30_000 }).toMatch(/finished · exit code 0/);
    await expect.poll(() => bo.textContent('[data-testid=run-status]'), { timeout: 30_000 }).toMatch(/finished · exit code 0/);
    const [ta, tb] = [await terminalText(ana), await terminalText(bo)];
    expect(ta).toBe(tb);
    expect(ta).toMatch(/Name\? ?Bo/);
    expect(ta).toContain('green and an error');
    // stderr is red in the terminal (xterm colour class 1 = red), stdout's own ANSI green kept.
    expect(await ana.locator('[data-testid=terminal] .xterm-rows span.xterm-fg-1').count()).toBeGreaterThan(0);
    expect(await ana.locator('[data-testid=terminal] .xterm-rows span.xterm-fg-2').count()).toBeGreaterThan(0);
    // The screen-reader log carries the output as text.
    expect(await ana.textContent('[data-testid=output-log]')).toContain('Hello, Bo!');
    // The run history (from the document's runs array) lists it for both.
    await expect.poll(() => bo.textContent('.history summary'), { timeout: 15_000 }).toMatch(/\(1\)/);

    // Bo's cursor in the shot, with its label.
    await bo.click('.cm-content');
    await ana.waitForSelector('.cm-ySelectionInfo:has-text("Bo")', { timeout: 10_000 });
    const shot = artifactPath('room-two-people-finished-run.png');
    await ana.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
    await ana.context().close();
    await bo.context().close();
  });

  it('the owner lets viewers run; Stop ends a running program for everyone', async () => {
    const room = await createRoom(server.url, { language: 'python' });
    const owner = await openRoom(await personContext(browser, 'Owner'), server.url, room.ownerUrl);
    const viewer = await openRoom(await personContext(browser, 'Watcher'), server.url, room.viewerUrl);
    const run = viewer.getByRole('button', { name: /^▶ Run/ });
    expect(await run.isDisabled()).toBe(true);
    await owner.getByLabel('Let viewers run and type input').check();
    await expect.poll(() => run.isDisabled(), { timeout: 10_000 }).toBe(false);

    await owner.click('.cm-content');
    await owner.keyboard.press('Control+a');
    await owner.keyboard.insertText('import time\nprint("tick", flush=True)\ntime.sleep(30)\n');
    await expect.poll(() => editorText(viewer), { timeout: 15_000 }).toContain('time.sleep(30)');
    await run.click();
    await expect.poll(() => terminalText(owner), { timeout: 30_000 }).toContain('tick');
    await owner.getByRole('button', { name: /Stop/ }).click();
    await expect.poll(() => viewer.textContent('[data-testid=run-status]'), { timeout: 30_000 }).toMatch(/finished · stopped by SIGKILL/);
    await owner.context().close();
    await viewer.context().close();
  });
});
