// Runs GraphQL operations with the protocols' reference clients, graphql-sse (distinct connections
// mode) and graphql-ws (graphql-transport-ws), and prints one JSON line per event the client saw:
//   {"op": 0, "t": 12.5, "kind": "next" | "complete" | "error", "payload": ...}
// The spec comes as the first argument: {"http": "http://host:port/graphql", "ops": [
//   {"transport": "sse" | "ws", "query": "...", "variables": {...}, "stopAfter": 2, "delayMs": 0}]}
// stopAfter: the client stops listening after that many results (SSE: the connection is closed;
// WS: a complete message is sent). Operations run at once, each after its delayMs, or, with
// "afterFirstOf": n, once operation n has had its first result.
// "authorization" (optional, beside "ops"): sent as the Authorization header over SSE and in
// connection_init's payload over WebSocket, as a browser client (which cannot set WebSocket headers) would.
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';

const spec = JSON.parse(process.argv[2]);
const started = performance.now();
const print = (op, kind, payload) =>
  process.stdout.write(JSON.stringify({ op, t: performance.now() - started, kind, payload }) + '\n');

const auth = spec.authorization ? { Authorization: spec.authorization } : undefined;
const sse = createSseClient({ url: spec.http, singleConnection: false, retryAttempts: 0, headers: auth });
let closed = null;
const ws = createWsClient({
  url: spec.http.replace(/^http/, 'ws'),
  webSocketImpl: WebSocket,
  retryAttempts: 0,
  lazy: true,
  connectionParams: auth,
  on: { closed: (event) => { closed = { code: event.code, reason: event.reason }; } },
});

const firsts = spec.ops.map(() => { let resolve; const seen = new Promise((r) => { resolve = r; }); return { seen, resolve }; });

async function run(op, index) {
  if (op.delayMs) await new Promise((resolve) => setTimeout(resolve, op.delayMs));
  if (op.afterFirstOf !== undefined && op.afterFirstOf !== null) await firsts[op.afterFirstOf].seen;
  const client = op.transport === 'ws' ? ws : sse;
  let results = 0;
  try {
    for await (const result of client.iterate({ query: op.query, variables: op.variables ?? {} })) {
      print(index, 'next', result);
      firsts[index].resolve();
      if (op.stopAfter && ++results >= op.stopAfter) {
        print(index, 'stopped', null);
        return; // leaving the loop returns the iterator: the client stops the operation
      }
    }
    print(index, 'complete', null);
    firsts[index].resolve();
  } catch (error) {
    // graphql-ws rejects with the error message's GraphQL errors; graphql-sse with an Error.
    // A socket the server closed rejects with its CloseEvent: its code says why (4403: forbidden).
    print(index, 'error', Array.isArray(error) ? error
      : error?.code !== undefined && closed ? { message: `closed ${closed.code}: ${closed.reason}`, closeCode: closed.code }
      : { message: String(error?.message ?? error) });
    firsts[index].resolve();
  }
}

await Promise.all(spec.ops.map(run));
await ws.dispose();
// Give a stopped SSE connection a moment to close before the process ends.
await new Promise((resolve) => setTimeout(resolve, 200));
process.exit(0);
