// Serves an empty page from each of the given origins (loopback ports), opens each in Debian's chromium through
// puppeteer-core, and from the page calls the gateway as a browser app on another site would: fetch (a POST with
// JSON and a key, which the browser preflights) and a graphql-transport-ws WebSocket. Prints one JSON object:
//   {"<origin>": {"fetch": {"status": 200, "body": {...}} | {"failed": "TypeError: ..."},
//                 "socket": "connection_ack" | "closed 1006" | "error"}}
// The spec comes as the first argument: {"graphql": "http://127.0.0.1:port/graphql", "chromium": "/usr/bin/chromium",
//   "origins": ["http://127.0.0.1:p1", ...], "key": "...", "query": "..."}
import http from 'node:http';
import puppeteer from 'puppeteer-core';

const spec = JSON.parse(process.argv[2]);
const servers = await Promise.all(spec.origins.map((origin) => new Promise((resolve) => {
  const server = http.createServer((_, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end('<!doctype html><title>another site</title>');
  });
  server.listen(Number(new URL(origin).port), '127.0.0.1', () => resolve(server));
})));
const browser = await puppeteer.launch({
  executablePath: spec.chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
});
const result = {};
try {
  for (const origin of spec.origins) {
    const page = await browser.newPage();
    await page.goto(origin + '/', { waitUntil: 'load' });
    result[origin] = await page.evaluate(async ({ graphql, key, query }) => {
      const seen = {};
      try {
        const response = await fetch(graphql, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/graphql-response+json', Authorization: `Bearer ${key}` },
          body: JSON.stringify({ query }),
        });
        seen.fetch = { status: response.status, body: await response.json() };
      } catch (error) {
        seen.fetch = { failed: String(error) };
      }
      seen.socket = await new Promise((resolve) => {
        const socket = new WebSocket(graphql.replace(/^http/, 'ws'), 'graphql-transport-ws');
        socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${key}` } }));
        socket.onmessage = (event) => { resolve(JSON.parse(event.data).type); socket.close(); };
        socket.onclose = (event) => resolve(`closed ${event.code}`);
      });
      return seen;
    }, spec);
    await page.close();
  }
} finally {
  await browser.close();
  servers.forEach((server) => server.close());
}
process.stdout.write(JSON.stringify(result));
