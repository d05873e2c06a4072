// The dashboard in a real browser (headless Debian Chromium driven by playwright-core), against a running
// `synchub serve` that tests/integration/test_dashboard_browser.py prepared: one dead job whose cause it has
// already fixed. Steps: open the page, give the token, see the job under "Failed jobs by cause", open it (payload
// masked), reveal the customer data, retry it, see it done. Prints one JSON line per step; exits non-zero on any
// failure. Input (environment): SYNCHUB_URL, SYNCHUB_TOKEN, SYNCHUB_JOB, SYNCHUB_EMAIL (the customer's email in the
// payload), SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const url = env('SYNCHUB_URL'), token = env('SYNCHUB_TOKEN'), job = env('SYNCHUB_JOB');
const email = env('SYNCHUB_EMAIL'), shots = env('SCREENSHOT_DIR');
const step = (name, extra = {}) => console.log(JSON.stringify({ step: name, ...extra }));

const profile = mkdtempSync(join(tmpdir(), 'synchub-e2e-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 900 },
  // As root on a machine without a network: no sandbox, and nothing that phones home.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
try {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });

  await page.goto(url + '/');
  await page.locator('#token').waitFor();
  step('login shown');
  await page.fill('#token', token);
  await page.click('#login-form button[type=submit]');

  const cause = page.locator('.cause', { hasText: 'test.missing_file' });
  await cause.waitFor();
  const text = await cause.innerText();
  if (!text.includes('1 job') || !text.includes('Retry safe?')) throw new Error('cause panel lacks its answers: ' + text);
  step('failure listed', { cause: text.split('\n')[0] });
  await page.screenshot({ path: join(shots, 'overview.png'), fullPage: true });

  await cause.locator(`a[href="#/job/${job}"]`).click();
  await page.locator('#job-retry').waitFor();
  const masked = await page.locator('#payload-box').innerText();
  if (masked.includes(email)) throw new Error('the payload view shows the customer email before reveal');
  step('job opened, payload masked');

  await page.click('#reveal');
  await page.locator('#payload-box .notice').waitFor();
  if (!(await page.locator('#payload-box').innerText()).includes(email))
    throw new Error('reveal did not show the customer email');
  step('revealed');

  await page.click('#job-retry');
  await page.locator('h2 .badge.state-done').waitFor({ timeout: 30000 });
  step('done');
  await page.screenshot({ path: join(shots, 'job-done.png'), fullPage: true });

  await page.click('nav a[href="#/audit"]');
  await page.locator('table.audit').waitFor();
  const audit = await page.locator('table.audit').innerText();
  step('audit shown', { rows: audit.split('\n').length - 1 });
  if (problems.length) throw new Error(problems.join('; '));
  step('ok');
} catch (e) {
  step('failed', { error: String(e && e.message || e), problems });
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
