// Opens the epochd web page in headless Chromium against a running node and
// checks that it lists the jobs and that their charts follow the live results.
//
//   node check.js <node url> <read token> <job> [<job> ...]
//
// Exits 0 when every check passed; otherwise prints what failed and exits 1.
// Run by daemon/tests/all/browser.rs; scripts/test installs Chromium and
// playwright-core (npm ci here).
'use strict';

const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const [url, token, ...jobs] = process.argv.slice(2);
// A job whose card must show its log lines (`hello from a job`), if any.
const LOG_JOB = process.env.LOG_JOB || '';

function log(msg) {
  console.log(`[browser] ${msg}`);
}

class Failure extends Error {}

function fail(msg) {
  throw new Failure(msg);
}

// Waits until `fn(arg)`, run in the page, returns a truthy value; fails
// with `what` after `secs`.
async function waitFor(page, what, secs, fn, arg) {
  try {
    const handle = await page.waitForFunction(fn, arg, { timeout: secs * 1000, polling: 200 });
    return await handle.jsonValue();
  } catch (e) {
    if (e.name !== 'TimeoutError') throw e;
    fail(`timed out after ${secs} s waiting for ${what}; page status: ${await pageStatus(page)}`);
  }
}

async function pageStatus(page) {
  return page.evaluate(() => {
    const badges = [...document.querySelectorAll('.card')].map(
      (c) => `${c.dataset.job}=${c.querySelector('.badge').textContent}` +
        ` epochs[${c.querySelector('canvas').dataset.epochs.split(',').filter(Boolean).length}]`,
    );
    return `${JSON.stringify(document.getElementById('status').textContent)} ${badges.join(' ')}`;
  });
}

// The epochs a job's chart has drawn.
function drawnEpochs(job) {
  const c = document.querySelector(`canvas[data-job="${CSS.escape(job)}"]`);
  return c ? c.dataset.epochs.split(',').filter(Boolean).map(Number) : [];
}

async function main() {
  if (!url || !token || !jobs.length) fail('usage: node check.js <url> <read token> <job>...');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', // we run as root
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const errors = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') log(`console ${m.type()}: ${m.text()}`);
    });

    // 1. The token from the page address.
    await page.goto(`${url}/#token=${encodeURIComponent(token)}`);
    const listed = await waitFor(page, `the jobs table to list ${jobs.join(', ')}`, 15, (want) => {
      const names = [...document.querySelectorAll('#jobs tbody tr')].map((r) => r.dataset.job);
      return want.every((j) => names.includes(j)) && names;
    }, jobs);
    log(`jobs table lists: ${listed.join(', ')}`);
    const hash = await page.evaluate(() => location.hash);
    if (hash.includes('token')) fail(`the token stayed in the address: ${hash}`);

    // 2. Every chart draws at least 3 distinct, increasing epochs.
    for (const job of jobs) {
      const epochs = await waitFor(page, `the ${job} chart to draw 3 epochs`, 20, (j) => {
        const c = document.querySelector(`canvas[data-job="${CSS.escape(j)}"]`);
        const e = c ? c.dataset.epochs.split(',').filter(Boolean).map(Number) : [];
        return e.length >= 3 && e;
      }, job);
      for (let i = 1; i < epochs.length; i++) {
        if (!(epochs[i] > epochs[i - 1])) fail(`the ${job} chart's epochs are not increasing: ${epochs}`);
      }
      const field = await page.$eval(`.card[data-job="${job}"] select`, (s) => s.value);
      log(`${job}: ${epochs.length} epochs drawn (${epochs[0]}..${epochs[epochs.length - 1]}), field ${JSON.stringify(field)}`);
    }

    // 3. The charts follow the stream: newer epochs arrive, the picture changes.
    const job = jobs[0];
    const before = await page.evaluate(drawnEpochs, job);
    const pixels = await page.$eval(`canvas[data-job="${job}"]`, (c) => c.toDataURL());
    const newest = before[before.length - 1];
    const later = await waitFor(page, `the ${job} chart to draw epochs after ${newest}`, 15, ([j, n]) => {
      const c = document.querySelector(`canvas[data-job="${CSS.escape(j)}"]`);
      const e = c ? c.dataset.epochs.split(',').filter(Boolean).map(Number) : [];
      return e.length && e[e.length - 1] >= n + 2 && e;
    }, [job, newest]);
    if ((await page.$eval(`canvas[data-job="${job}"]`, (c) => c.toDataURL())) === pixels) {
      fail(`the ${job} chart drew new epochs but its pixels did not change`);
    }
    const badge = await page.$eval(`.card[data-job="${job}"] .badge`, (b) => b.textContent);
    if (badge !== 'live') fail(`the ${job} stream is "${badge}", not live`);
    log(`${job}: updated live, newest epoch ${newest} -> ${later[later.length - 1]}`);

    // 4. Without a token the page asks for one; the form's token works.
    const fresh = await browser.newPage();
    fresh.on('pageerror', (e) => errors.push(`page error (no token): ${e.message}`));
    await fresh.goto(`${url}/`);
    await waitFor(fresh, 'the page to ask for a token', 10, () =>
      document.getElementById('token-form').classList.contains('needed'));
    await fresh.fill('#token-input', token);
    await fresh.click('#token-form button');
    await waitFor(fresh, 'the jobs table after entering the token', 10, () =>
      document.querySelectorAll('#jobs tbody tr').length > 0);
    await waitFor(fresh, `the ${job} chart after entering the token`, 20, (j) => {
      const c = document.querySelector(`canvas[data-job="${CSS.escape(j)}"]`);
      return c && c.dataset.epochs.split(',').filter(Boolean).length >= 1;
    }, job);
    log('without a token the page asked for one, and the token typed in works');

    // 5. A job's log lines show on its card.
    if (LOG_JOB) {
      const text = await waitFor(page, `${LOG_JOB}'s log lines on its card`, 30, (j) => {
        const pre = document.querySelector(`.card[data-job="${CSS.escape(j)}"] pre.log`);
        return pre && !pre.hidden && pre.textContent.includes('hello from a job') && pre.textContent;
      }, LOG_JOB);
      log(`${LOG_JOB}: its card shows its log: ${String(text).split('\n').pop()}`);
    }

    if (errors.length) fail(errors.join('\n'));
  } finally {
    await browser.close();
  }
}

main().then(
  () => log('all checks passed'),
  (e) => {
    console.error(`[browser] FAILED: ${e instanceof Failure ? e.message : e.stack || e}`);
    process.exit(1);
  },
);
