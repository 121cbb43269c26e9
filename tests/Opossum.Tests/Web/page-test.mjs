// Drives the gateway's page in Debian's chromium through puppeteer-core and prints one JSON object with
// what a person would have seen. The spec comes as the first argument:
//   {"url": "http://127.0.0.1:port/", "chromium": "/usr/bin/chromium", "screenshot": "/path.png", "messages": ["...", "..."],
//    "key": "..." (optional: the page must ask for it, and gets it typed in)}
import puppeteer from 'puppeteer-core';

const spec = JSON.parse(process.argv[2]);
const origin = new URL(spec.url).origin;
const result = { requests: [], consoleErrors: [], answers: [], narrowOverflow: null, services: [], traces: 0, shiftEnterKeepsNewline: null, askedForKey: false };
const browser = await puppeteer.launch({
  executablePath: spec.chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
});
try {
  const page = await browser.newPage();
  page.on('request', (request) => result.requests.push(request.url()));
  page.on('console', (message) => { if (message.type() === 'error') result.consoleErrors.push(message.text()); });
  page.on('pageerror', (error) => result.consoleErrors.push(String(error)));
  await page.setViewport({ width: 360, height: 740 });
  await page.goto(spec.url, { waitUntil: 'networkidle0' });
  if (spec.key) {
    await page.waitForSelector('#key-form:not([hidden])');
    result.askedForKey = true;
    await page.type('#key-input', spec.key);
    await page.keyboard.press('Enter');
    result.keyKept = await page.evaluate(() => sessionStorage.getItem('opossum-api-key') !== null && localStorage.length === 0);
  }
  await page.waitForSelector('#model option:nth-child(2)');
  result.narrowOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

  // Shift+Enter makes a new line and sends nothing.
  await page.focus('#message');
  await page.keyboard.type('a');
  await page.keyboard.down('Shift');
  await page.keyboard.press('Enter');
  await page.keyboard.up('Shift');
  await page.keyboard.type('b');
  result.shiftEnterKeepsNewline = await page.$eval('#message', (t) => t.value) === 'a\nb';
  await page.$eval('#message', (t) => { t.value = ''; });

  await page.setViewport({ width: 1100, height: 760 });
  for (const [index, message] of spec.messages.entries()) {
    await page.focus('#message');
    await page.keyboard.type(message);
    const sent = Date.now();
    await page.keyboard.press('Enter');
    // Watch the answer grow: every distinct text it showed, with when.
    const seen = [];
    for (;;) {
      const state = await page.evaluate((i) => {
        const answer = document.querySelectorAll('#messages li.assistant')[i];
        return answer ? { text: answer.querySelector('.text').textContent, meta: answer.querySelector('.meta')?.textContent ?? null, error: answer.classList.contains('error') } : null;
      }, index);
      if (state && (seen.length === 0 || seen[seen.length - 1].text !== state.text)) seen.push({ ms: Date.now() - sent, text: state.text });
      if (state?.meta) {
        result.answers.push({ seen, text: state.text, meta: state.meta, error: state.error });
        break;
      }
      if (Date.now() - sent > 30000) throw new Error(`no answer to message ${index} within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  if (spec.screenshot) await page.screenshot({ path: spec.screenshot });

  await page.click('.tab[data-view=status]');
  await page.waitForSelector('#services tr');
  result.services = await page.$$eval('#services tr', (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
  result.cache = await page.$eval('#cache', (p) => p.textContent);
  await page.click('.tab[data-view=traces]');
  // Rows for an operator (or on a gateway without keys); a note for a client key.
  await page.waitForFunction(() => document.querySelector('#trace-rows tr') || document.querySelector('#traces-note').textContent.length > 0);
  result.traces = await page.$$eval('#trace-rows tr', (rows) => rows.length);
  result.tracesNote = await page.$eval('#traces-note', (p) => p.textContent);
} finally {
  await browser.close();
}
result.foreignRequests = result.requests.filter((url) => !url.startsWith(origin + '/') && !url.startsWith('data:'));
process.stdout.write(JSON.stringify(result));
