// Drives Debian's chromium, headless, through the local server's own
// pages: sign in from the home page through the sandbox Google, wait on
// the home page (reloading) until the background jobs have found Grace
// Hopper, open her timeline, and the API reference. Prints what happened
// as one JSON object; the Go test (TestHomePageBrowser) decides whether
// it is right.
//
// Environment: CHROMIUM (the executable), API (the server's origin),
// EMAIL (who signs in), WANT (Grace Hopper's counts to wait for).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';

const { CHROMIUM, API, EMAIL, WANT } = process.env;

const userDataDir = await mkdtemp(join(tmpdir(), 'crm-chromium-'));
const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  userDataDir,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const out = { console: [], failed: [] };
try {
  const page = await browser.newPage();
  // A Content-Security-Policy violation is a console error.
  page.on('console', (m) => { if (m.type() === 'error') out.console.push(m.text()); });
  page.on('requestfailed', (r) => out.failed.push(r.url()));
  await page.goto(API + '/');
  out.signedOut = await page.$eval('#who', (el) => el.textContent);
  await Promise.all([page.waitForNavigation(), page.click('#signin')]);
  out.consent = page.url();
  await page.$eval('#email', (el) => { el.value = ''; });
  await page.type('#email', EMAIL);
  await Promise.all([page.waitForNavigation(), page.click('button[value=allow]')]);
  out.landed = page.url();
  out.who = await page.$eval('#who', (el) => el.textContent);

  // The jobs find the contacts a moment after sign-in: reload until
  // Grace Hopper is there with her emails and meetings counted as WANT
  // says (interactions, sent, received, meetings).
  const grace = async () => page.$$eval('tr.contact', (rows) => {
    const row = rows.find((r) => r.querySelector('a')?.textContent === 'Grace Hopper');
    return row ? [...row.querySelectorAll('td.num')].map((td) => td.textContent) : null;
  });
  const deadline = Date.now() + 90000;
  for (;;) {
    out.graceCounts = await grace();
    if (out.graceCounts && out.graceCounts.join(',') === WANT) break;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
    await page.reload();
  }
  out.contacts = await page.$$eval('tr.contact a', (as) => as.map((a) => a.textContent));
  out.sync = await page.$$eval('#sync tr', (rows) => rows.slice(1).map((r) => [...r.cells].map((c) => c.textContent)));
  out.stylesheet = await page.$eval('h1', (el) => getComputedStyle(el.ownerDocument.body).maxWidth);

  await Promise.all([page.waitForNavigation(), page.click('xpath/.//a[text()="Grace Hopper"]')]);
  out.contactURL = page.url();
  out.heading = await page.$eval('h1', (el) => el.textContent);
  out.timeline = await page.$$eval('#timeline tr.item', (rows) => rows.map((r) => ({
    at: r.querySelector('time').getAttribute('datetime'),
    kind: r.querySelector('.kind').textContent,
    title: r.querySelector('.title').textContent,
    direction: r.querySelector('.direction').textContent,
  })));

  await page.goto(API + '/');
  await Promise.all([page.waitForNavigation(), page.click('#docs')]);
  out.docsURL = page.url();
  out.operations = await page.$$eval('#operations tbody tr', (rows) => rows.length);
} finally {
  await browser.close();
  await rm(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(out));
