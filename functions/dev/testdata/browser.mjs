// Drives Debian's chromium, headless, through a web app on another origin:
// sign in through the sandbox Google with returnTo, land back on the page,
// call the API with credentials; then the same page from an origin that is
// not allowed. Prints what happened as one JSON object; the Go test
// (TestCrossOriginBrowser) decides whether it is right.
//
// Environment: CHROMIUM (the executable), API, APP and OTHER (origins),
// EMAIL (who signs in).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';

const { CHROMIUM, API, APP, OTHER, EMAIL } = process.env;

// fetchFrom runs fetch in the page and reports its status and body, or
// the error the browser gave instead (a CORS refusal is a TypeError).
async function fetchFrom(page, url, init) {
  return page.evaluate(async (url, init) => {
    try {
      const res = await fetch(url, init);
      const text = await res.text();
      let body = text;
      try { body = JSON.parse(text); } catch {}
      return { status: res.status, body, requestId: res.headers.get('X-Request-Id') };
    } catch (e) {
      return { error: String(e) };
    }
  }, url, init);
}

const userDataDir = await mkdtemp(join(tmpdir(), 'crm-chromium-'));
const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  userDataDir,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const out = {};
try {
  const page = await browser.newPage();
  await page.goto(APP + '/app.html');
  await Promise.all([page.waitForNavigation(), page.click('#signin')]);
  out.consent = page.url();
  await page.$eval('#email', (el) => { el.value = ''; });
  await page.type('#email', EMAIL);
  await Promise.all([page.waitForNavigation(), page.click('button[value=allow]')]);
  out.landed = page.url();
  out.shown = await page.$eval('#where', (el) => el.textContent);
  out.list = await fetchFrom(page, API + '/v1/contacts', { credentials: 'include' });
  out.create = await fetchFrom(page, API + '/v1/contacts', {
    method: 'POST', credentials: 'include',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'Grace Hopper' }),
  });

  const other = await browser.newPage();
  await other.goto(OTHER + '/app.html');
  out.otherList = await fetchFrom(other, API + '/v1/contacts', { credentials: 'include' });
  // A "simple" request needs no preflight: the browser sends it with the
  // cookie (same site), and only the API's origin check can refuse it.
  out.otherCreate = await fetchFrom(other, API + '/v1/contacts', {
    method: 'POST', credentials: 'include',
    headers: { 'Content-Type': 'text/plain' },
    body: JSON.stringify({ name: 'Mallory' }),
  });
} finally {
  await browser.close();
  await rm(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(out));
