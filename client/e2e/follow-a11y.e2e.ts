/**
 * Classroom features and the keyboard: a viewer follows the owner's file tab and scroll and can stop;
 * files as tabs driven by the keyboard; Ctrl+Enter runs from anywhere; the editor lets focus out
 * (Escape, Tab); the layout holds at tablet width.
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { artifactPath, createRoom, openRoom, personContext, useSession } from './harness.js';

const session = useSession({ ready: true });

const activeTab = (page: Page): Promise<string | null> => page.textContent('[role=tab][aria-selected=true]');
/** The first line number CodeMirror shows at the top of the editor's scroller. */
const topLine = (page: Page): Promise<number> =>
  page.evaluate(() => {
    const scroller = document.querySelector('.cm-scroller') as HTMLElement;
    const box = scroller.getBoundingClientRect();
    const gutters = Array.from(document.querySelectorAll('.cm-lineNumbers .cm-gutterElement')) as HTMLElement[];
    const first = gutters.find((g) => g.getBoundingClientRect().bottom > box.top + 2 && g.textContent);
    return Number(first?.textContent ?? 0);
  });

describe('follow mode and keyboard use', () => {
  it('a viewer follows the owner’s tab and scroll by default, and can stop', async () => {
    const room = await createRoom(session.server.url, { language: 'python' });
    const owner = await openRoom(await personContext(session.browser, 'Teacher'), session.server.url, room.ownerUrl);
    const viewer = await openRoom(await personContext(session.browser, 'Pupil'), session.server.url, room.viewerUrl);

    // The owner adds a long second file with the keyboard-reachable form.
    await owner.getByRole('button', { name: 'Add a file' }).click();
    await owner.getByLabel('New file name').fill('lesson.py');
    await owner.keyboard.press('Enter');
    await expect.poll(() => activeTab(owner)).toBe('lesson.py');
    await owner.click('.cm-content');
    await owner.keyboard.insertText(Array.from({ length: 300 }, (_, i) => `step_${i + 1} = ${i + 1}`).join('\n'));

    // The viewer is taken to the owner's tab.
    await expect.poll(() => activeTab(viewer), { timeout: 15_000 }).toBe('lesson.py');
    // The owner scrolls to the middle: the viewer's editor follows.
    await owner.evaluate(() => {
      (document.querySelector('.cm-scroller') as HTMLElement).scrollTop = 150 * 21;
    });
    await expect.poll(async () => Math.abs((await topLine(viewer)) - (await topLine(owner))), { timeout: 15_000 }).toBeLessThanOrEqual(2);
    expect(await topLine(owner)).toBeGreaterThan(100);

    // Stop following: the owner's next tab change no longer moves the viewer.
    await viewer.getByRole('button', { name: 'Stop following', exact: true }).click();
    await owner.getByRole('tab', { name: /main\.py/ }).click();
    await expect.poll(() => activeTab(owner)).toMatch(/main\.py/);
    // Give the awareness update time to arrive (it would have switched the tab within ~100 ms).
    await viewer.waitForTimeout(1000);
    expect(await activeTab(viewer)).toBe('lesson.py');
    await owner.context().close();
    await viewer.context().close();
  });

  it('works with the keyboard: tabs with arrows, Escape+Tab leaves the editor, Ctrl+Enter runs', async () => {
    const room = await createRoom(session.server.url, { language: 'python' });
    const page = await openRoom(await personContext(session.browser, 'Keys'), session.server.url, room.ownerUrl);
    await page.getByRole('button', { name: 'Add a file' }).click();
    await page.getByLabel('New file name').fill('b.py');
    await page.keyboard.press('Enter');
    await expect.poll(() => activeTab(page)).toBe('b.py');

    await page.getByRole('tab', { name: 'b.py' }).focus();
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => activeTab(page)).toMatch(/main\.py/);
    expect(await page.evaluate(() => document.activeElement?.getAttribute('role'))).toBe('tab');

    // Into the editor and out again with Escape then Tab (Tab alone indents).
    await page.click('.cm-content');
    await page.keyboard.press('Control+a');
    await page.keyboard.insertText('print("hi")\n');
    await page.keyboard.press('Escape');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.closest('.cm-editor') === null)).toBe(true);

    // Ctrl+Enter from outside the editor starts a run.
    await page.getByRole('tab', { name: /main\.py/ }).focus();
    await page.keyboard.press('Control+Enter');
    await expect.poll(() => page.textContent('[data-testid=run-status]'), { timeout: 30_000 }).toMatch(/Keys's run/);
    await expect.poll(() => page.textContent('[data-testid=announcer]'), { timeout: 30_000 }).toMatch(/Keys started a run|Run finished/);
    await expect.poll(() => page.textContent('[data-testid=run-status]'), { timeout: 30_000 }).toMatch(/finished/);
    // And from the terminal, where xterm handles keys itself.
    await page.click('[data-testid=terminal]');
    await page.keyboard.press('Control+Enter');
    await expect.poll(() => page.locator('.history > summary').textContent(), { timeout: 30_000 }).toMatch(/\(2\)/);
    await page.context().close();
  });

  it('has labels for every control and readable contrast for every text (WCAG AA)', async () => {
    const room = await createRoom(session.server.url, { language: 'python' });
    const owner = await openRoom(await personContext(session.browser, 'Owner'), session.server.url, room.ownerUrl);
    const viewer = await openRoom(await personContext(session.browser, 'Viewer'), session.server.url, room.viewerUrl);
    for (const page of [owner, viewer]) {
      await page.waitForSelector('[data-testid=terminal][data-ready=true]');
      const problems = await page.evaluate(() => {
        const out: string[] = [];
        let checked = 0;
        const parse = (c: string): number[] => (c.match(/[\d.]+/g) ?? []).map(Number);
        const lum = ([r = 0, g = 0, b = 0]: number[]): number => {
          const f = (v: number): number => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
          return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
        };
        const background = (el: Element | null): number[] => {
          for (let e = el; e; e = e.parentElement) {
            const c = parse(getComputedStyle(e).backgroundColor);
            if (c.length === 3 || (c[3] ?? 0) > 0.9) return c.slice(0, 3);
          }
          return [255, 255, 255];
        };
        // Every form control and button has an accessible name.
        for (const el of Array.from(document.querySelectorAll('button, select, input, [role=tab]'))) {
          if (el.closest('.xterm')) continue;
          const id = el.getAttribute('id');
          const named = el.getAttribute('aria-label') || el.closest('label') || (id && document.querySelector(`label[for="${id}"]`)) || (el.textContent ?? '').trim();
          if (!named) out.push(`unlabelled ${el.outerHTML.slice(0, 80)}`);
        }
        // Every visible text outside the editor's and terminal's own themes.
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          const el = n.parentElement;
          if (!el || !(n.textContent ?? '').trim() || el.closest('.cm-editor, .xterm, .sr-only, .skip-link, button:disabled, select:disabled')) continue;
          const rect = el.getBoundingClientRect();
          if (rect.width === 0 || rect.height === 0) continue;
          const cs = getComputedStyle(el);
          const [l1, l2] = [lum(parse(cs.color)), lum(background(el))];
          const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
          const large = parseFloat(cs.fontSize) >= 24 || (parseFloat(cs.fontSize) >= 18.66 && Number(cs.fontWeight) >= 700);
          checked++;
          if (ratio < (large ? 3 : 4.5)) out.push(`${ratio.toFixed(2)}:1 "${(n.textContent ?? '').trim().slice(0, 40)}"`);
        }
        return { out, checked };
      });
      expect(problems.out).toEqual([]);
      expect(problems.checked).toBeGreaterThan(20);
    }
    await owner.context().close();
    await viewer.context().close();
  });

  it('lays out at tablet width without horizontal scrolling', async () => {
    const room = await createRoom(session.server.url, { language: 'python' });
    const ctx = await personContext(session.browser, 'Tablet', { width: 800, height: 1100 });
    const page = await openRoom(ctx, session.server.url, room.editorUrl);
    await page.waitForSelector('[data-testid=terminal][data-ready=true]');
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    const shot = artifactPath('room-tablet-800px.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
    await ctx.close();
  });
});
