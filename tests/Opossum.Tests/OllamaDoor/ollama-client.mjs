// The official `ollama` npm client, unmodified, pointed at the gateway as an app points it at an Ollama server.
// Argument: a JSON spec from the test. Prints one JSON line per scenario: {scenario, ...what the client saw}.
// The client's own `fetch` option records the response headers it does not expose (x-opossum-cache, Retry-After).
import { Ollama } from 'ollama';

const spec = JSON.parse(process.argv[2]);
const seen = [];
const recording = (url, options) => fetch(url, options).then(response => {
  seen.push({
    status: response.status,
    cache: response.headers.get('x-opossum-cache'),
    traceId: response.headers.get('x-opossum-trace-id'),
    retryAfter: response.headers.get('retry-after'),
    contentType: response.headers.get('content-type'),
  });
  return response;
});
const client = (host, key) => new Ollama({ host, fetch: recording, headers: key ? { Authorization: `Bearer ${key}` } : {} });
const ollama = client(spec.host, spec.key);
const user = content => [{ role: 'user', content }];

const failure = error => ({ error: { name: error.name, message: error.message, status: error.status_code ?? null } });

async function scenario(name, run) {
  const before = seen.length;
  let result;
  try {
    result = await run();
  } catch (error) {
    result = failure(error);
  }
  console.log(JSON.stringify({ scenario: name, ...result, responses: seen.slice(before) }));
}

await scenario('chat', async () => {
  const r = await ollama.chat({ model: spec.model, messages: [{ role: 'system', content: 'Be brief.' }, ...user(spec.chat)], stream: false });
  return { content: r.message.content, role: r.message.role, model: r.model, done: r.done, doneReason: r.done_reason,
    promptEvalCount: r.prompt_eval_count, evalCount: r.eval_count, totalDuration: r.total_duration, createdAt: r.created_at };
});

await scenario('stream', async () => {
  const parts = [];
  let last;
  for await (const part of await ollama.chat({ model: spec.model, messages: user(spec.stream), stream: true })) {
    if (!part.done) parts.push(part.message.content);
    last = part;
  }
  return { parts, doneReason: last.done_reason, finalContent: last.message.content, promptEvalCount: last.prompt_eval_count, evalCount: last.eval_count };
});

await scenario('image', async () => {
  const r = await ollama.chat({ model: spec.imageModel, messages: [{ role: 'user', content: spec.image, images: [Buffer.from(spec.png, 'base64')] }], stream: false });
  return { content: r.message.content };
});

await scenario('parameters', async () => {
  const r = await ollama.chat({ model: spec.model, messages: user(spec.parameters), stream: false,
    options: { temperature: 0.3, top_p: 0.8, num_predict: 42, stop: ['END'], seed: 7, top_k: 20 }, keep_alive: '5m' });
  return { content: r.message.content };
});

await scenario('cache', async () => {
  const first = await ollama.chat({ model: spec.model, messages: user(spec.cache), stream: false });
  const second = await ollama.chat({ model: spec.model, messages: user(spec.cache), stream: false });
  return { contents: [first.message.content, second.message.content] };
});

await scenario('concurrent', async () => {
  const answers = await Promise.all(Array.from({ length: 20 }, () =>
    ollama.chat({ model: spec.model, messages: user(spec.concurrent), stream: false })));
  return { contents: answers.map(a => a.message.content) };
});

// Twice: the second attempt reaching the backend again shows that nothing of the first was cached.
await scenario('cut', async () => {
  const attempts = [];
  for (let i = 0; i < 2; i++) {
    const parts = [];
    try {
      for await (const part of await ollama.chat({ model: spec.model, messages: user(spec.cut), stream: true }))
        parts.push(part.message.content);
      attempts.push({ parts });
    } catch (error) {
      attempts.push({ parts, ...failure(error) });
    }
  }
  return { attempts };
});

await scenario('unknownModel', () => ollama.chat({ model: 'no-such-model', messages: user(spec.chat), stream: false }));

await scenario('outOfRange', () => ollama.chat({ model: spec.model, messages: user(spec.chat), stream: false, options: { temperature: 5 } }));

await scenario('noKey', () => client(spec.host, null).chat({ model: spec.model, messages: user(spec.chat), stream: false }));

await scenario('overLimit', async () => {
  const limited = client(spec.limitedHost, spec.limitedKey);
  const first = await limited.chat({ model: spec.model, messages: user(spec.limited), stream: false });
  try {
    await limited.chat({ model: spec.model, messages: user(spec.limited + ' again'), stream: false });
  } catch (error) {
    return { first: first.message.content, ...failure(error) };
  }
  return { first: first.message.content };
});

await scenario('tags', async () => {
  const r = await ollama.list();
  return { models: r.models.map(m => ({ name: m.name, model: m.model, digest: m.digest, family: m.details.family })) };
});

await scenario('pull', () => ollama.pull({ model: 'llama3.2' }));

await scenario('generate', async () => {
  const r = await ollama.generate({ model: spec.model, prompt: spec.generate, system: 'Answer in one line.', stream: false });
  const parts = [];
  for await (const part of await ollama.generate({ model: spec.model, prompt: spec.generate + ' streamed', stream: true }))
    if (!part.done) parts.push(part.response);
  return { response: r.response, done: r.done, evalCount: r.eval_count, parts };
});

await scenario('about', async () => {
  const version = await ollama.version();
  const show = await ollama.show({ model: spec.imageModel });
  const ps = await ollama.ps();
  return { version: version.version, capabilities: show.capabilities, family: show.details.family, running: ps.models.length };
});

// Tools: the model calls get_weather, the app runs it and sends the result back as a `tool` message, the model answers.
const weather = {
  type: 'function',
  function: {
    name: 'get_weather', description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const runTool = call => `${spec.toolResult} in ${call.function.arguments.city}`;

async function toolLoop(message, stream) {
  const messages = user(message);
  const steps = [];
  for (let step = 0; step < 2; step++) {
    let reply;
    const lines = [];
    if (stream) {
      const calls = [];
      let content = '';
      for await (const part of await ollama.chat({ model: spec.toolModel, messages, tools: [weather], stream: true })) {
        lines.push({ content: part.message.content, toolCalls: part.message.tool_calls ?? null, done: part.done, doneReason: part.done_reason ?? null });
        content += part.message.content;
        calls.push(...(part.message.tool_calls ?? []));
      }
      reply = { role: 'assistant', content, ...(calls.length ? { tool_calls: calls } : {}) };
    } else {
      const r = await ollama.chat({ model: spec.toolModel, messages, tools: [weather], stream: false });
      lines.push({ content: r.message.content, toolCalls: r.message.tool_calls ?? null, done: r.done, doneReason: r.done_reason });
      reply = r.message;
    }
    steps.push({ lines, content: reply.content, toolCalls: reply.tool_calls ?? null });
    if (!reply.tool_calls?.length) break;
    messages.push(reply);
    for (const call of reply.tool_calls)
      messages.push({ role: 'tool', content: runTool(call), tool_name: call.function.name });
  }
  return { steps };
}

await scenario('toolLoop', () => toolLoop(spec.tool, false));

await scenario('toolLoopStream', () => toolLoop(spec.toolStream, true));

// The same streamed tool call twice: the second comes from the cache and must stream the very same lines.
await scenario('toolCached', async () => {
  const runs = [];
  for (let i = 0; i < 2; i++) {
    const lines = [];
    for await (const part of await ollama.chat({ model: spec.toolModel, messages: user(spec.toolCached), tools: [weather], stream: true }))
      lines.push({ content: part.message.content, toolCalls: part.message.tool_calls ?? null, done: part.done, doneReason: part.done_reason ?? null });
    runs.push(lines);
  }
  return { runs };
});

const reading = {
  type: 'object',
  properties: { city: { type: 'string' }, degrees: { type: 'integer' } },
  required: ['city', 'degrees'],
};

await scenario('schema', async () => {
  const r = await ollama.chat({ model: spec.toolModel, messages: user(spec.schema), format: reading, stream: false });
  const parts = [];
  for await (const part of await ollama.chat({ model: spec.toolModel, messages: user(spec.schema + ' streamed'), format: reading, stream: true }))
    parts.push(part.message.content);
  return { parsed: JSON.parse(r.message.content), streamed: JSON.parse(parts.join('')) };
});

await scenario('offSchema', async () => {
  const r = await ollama.chat({ model: spec.toolModel, messages: user(spec.offSchema), format: reading, stream: false });
  return { content: r.message.content };
});

await scenario('offSchemaStream', async () => {
  const parts = [];
  try {
    for await (const part of await ollama.chat({ model: spec.toolModel, messages: user(spec.offSchema + ' streamed'), format: reading, stream: true }))
      parts.push(part.message.content);
  } catch (error) {
    return { parts, ...failure(error) };
  }
  return { parts };
});

await scenario('jsonMode', async () => {
  const r = await ollama.chat({ model: spec.toolModel, messages: user(spec.jsonMode), format: 'json', stream: false });
  return { parsed: JSON.parse(r.message.content) };
});

await scenario('generateSchema', async () => {
  const r = await ollama.generate({ model: spec.toolModel, prompt: spec.generateSchema, format: reading, stream: false });
  const parts = [];
  for await (const part of await ollama.generate({ model: spec.toolModel, prompt: spec.generateSchema + ' streamed', format: 'json', stream: true }))
    parts.push(part.response);
  return { parsed: JSON.parse(r.response), streamed: JSON.parse(parts.join('')) };
});

await scenario('badFormat', () =>
  ollama.chat({ model: spec.toolModel, messages: user(spec.refused), format: { type: 'object', properties: { city: { $ref: '#/$defs/city' } } }, stream: false }));

await scenario('badTool', () =>
  ollama.chat({ model: spec.toolModel, messages: user(spec.refused), tools: [{ type: 'function', function: { name: 'get weather!', parameters: {} } }], stream: false }));

await scenario('toolModel', async () => {
  const show = await ollama.show({ model: spec.toolModel });
  return { capabilities: show.capabilities };
});
