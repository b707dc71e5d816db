/**
 * A shared run: one person runs a Python program that reads a line, the other types the line, and
 * both terminals show the same text. Saves a screenshot of the room with two people and the
 * finished run as a test artifact.
 */
import { describe, expect, it } from 'vitest';
import { artifactPath, createRoom, editorText, openRoom, personContext, terminalText, useSession } from './harness.js';

const session = useSession({ ready: true });

const PROGRAM = 'name = input("Name? ")\nprint("Hello, " + name + "!")\nimport sys\nprint("\\x1b[32mgreen\\x1b[0m and an error", file=sys.stderr)\n';

describe('shared run in the browser', () => {
  it('one runs a program reading a line, the other types it; both terminals show the same text', async () => {
    const room = await createRoom(session.server.url, { name: 'Run together', language: 'python' });
    const ana = await openRoom(await personContext(session.browser, 'Ana'), session.server.url, room.ownerUrl);
    const bo = await openRoom(await personContext(session.browser, 'Bo'), session.server.url, room.editorUrl);
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
    await expect.poll(() => bo.textContent('.history > summary'), { timeout: 15_000 }).toMatch(/\(1\)/);

    // Bo's cursor in the shot, with its label.
    await bo.click('.cm-content');
    await ana.waitForSelector('.cm-ySelectionInfo:has-text("Bo")', { timeout: 10_000 });
    // The label is shown all the time, not only on hover.
    expect(await ana.$eval('.cm-ySelectionInfo', (el) => getComputedStyle(el).opacity)).toBe('1');
    const shot = artifactPath('room-two-people-finished-run.png');
    await ana.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
    await ana.context().close();
    await bo.context().close();
  });

  it('a viewer cannot type input until the owner lets viewers run; then the viewer runs, types and stops', async () => {
    const room = await createRoom(session.server.url, { language: 'python' });
    const owner = await openRoom(await personContext(session.browser, 'Owner'), session.server.url, room.ownerUrl);
    const viewer = await openRoom(await personContext(session.browser, 'Watcher'), session.server.url, room.viewerUrl);
    await viewer.waitForSelector('[data-testid=terminal][data-ready=true]');
    const viewerRun = viewer.getByRole('button', { name: /^Run (Ctrl\+|⌘\+)Enter/ });
    expect(await viewerRun.isDisabled()).toBe(true);

    await owner.click('.cm-content');
    await owner.keyboard.press('Control+a');
    await owner.keyboard.insertText('print("ready", flush=True)\nprint("got " + input(), flush=True)\nimport time\ntime.sleep(30)\n');
    await expect.poll(() => editorText(viewer), { timeout: 15_000 }).toContain('time.sleep(30)');

    // The owner runs; the viewer's typing in the terminal goes nowhere, the owner's does.
    await owner.getByRole('button', { name: /^Run (Ctrl\+|⌘\+)Enter/ }).click();
    await expect.poll(() => terminalText(viewer), { timeout: 30_000 }).toContain('ready');
    await viewer.click('[data-testid=terminal]');
    await viewer.keyboard.type('sneaky');
    await viewer.keyboard.press('Enter');
    await owner.click('[data-testid=terminal]');
    await owner.keyboard.type('legit');
    await owner.keyboard.press('Enter');
    await expect.poll(() => terminalText(viewer), { timeout: 30_000 }).toContain('got legit');
    expect(await terminalText(viewer)).not.toContain('sneaky');
    expect(await terminalText(owner)).not.toContain('sneaky');
    await owner.getByRole('button', { name: 'Stop', exact: true }).click();
    await expect.poll(() => viewer.textContent('[data-testid=run-status]'), { timeout: 30_000 }).toMatch(/finished · stopped by SIGKILL/);

    // The owner lets viewers run: the viewer runs, types the input and stops the program.
    await owner.getByLabel('Let viewers run and type input').check();
    await expect.poll(() => viewerRun.isDisabled(), { timeout: 10_000 }).toBe(false);
    await viewerRun.click();
    await expect.poll(() => owner.textContent('[data-testid=run-status]'), { timeout: 30_000 }).toMatch(/Watcher's run/);
    await expect.poll(() => terminalText(owner), { timeout: 30_000 }).toMatch(/Watcher started a run[\s\S]*ready/);
    await viewer.click('[data-testid=terminal]');
    await viewer.keyboard.type('from viewer');
    await viewer.keyboard.press('Enter');
    await expect.poll(() => terminalText(owner), { timeout: 30_000 }).toContain('got from viewer');
    await viewer.getByRole('button', { name: 'Stop', exact: true }).click();
    await expect.poll(() => owner.textContent('[data-testid=run-status]'), { timeout: 30_000 }).toMatch(/finished · stopped by SIGKILL/);
    await owner.context().close();
    await viewer.context().close();
  });
});
