// The official openai npm client, unmodified, pointed at the gateway's OpenAI door. Runs every scenario the test gives
// (argv[2], JSON) and prints one JSON object with what the client saw in each.
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';

const spec = JSON.parse(process.argv[2]);
const client = new OpenAI({ baseURL: spec.baseURL, apiKey: spec.key, maxRetries: 0 });
const user = (content) => [{ role: 'user', content }];

// What an error the client raised says: its class, status, OpenAI error fields and the Retry-After it was given.
const failure = (e) => ({
  name: e?.constructor?.name, status: e?.status ?? null, type: e?.type ?? null, code: e?.code ?? null, param: e?.param ?? null,
  message: e?.message, retryAfter: e?.headers?.get?.('retry-after') ?? null,
});
const attempt = async (run) => { try { return { ok: await run() }; } catch (e) { return { error: failure(e) }; } };

async function readStream(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

const results = {};

{
  const { data, response } = await client.chat.completions
    .create({ model: spec.model, messages: [{ role: 'developer', content: 'Answer briefly.' }, ...user(spec.prompts.chat)] })
    .withResponse();
  results.chat = { completion: data, traceId: response.headers.get('x-opossum-trace-id'), cache: response.headers.get('x-opossum-cache'),
    backend: response.headers.get('x-opossum-backend'), serverTiming: response.headers.get('server-timing') };
}

{
  const { data: stream, response } = await client.chat.completions
    .create({ model: spec.model, messages: user(spec.prompts.stream), stream: true, stream_options: { include_usage: true } })
    .withResponse();
  results.stream = { chunks: await readStream(stream), contentType: response.headers.get('content-type'), cache: response.headers.get('x-opossum-cache') };
}

results.image = await attempt(() => client.chat.completions.create({
  model: spec.model,
  messages: user([{ type: 'text', text: spec.prompts.image }, { type: 'image_url', image_url: { url: spec.image } }]),
}));

results.imageUrl = await attempt(() => client.chat.completions.create({
  model: spec.model,
  messages: [{ role: 'system', content: 'Describe.' }, ...user([{ type: 'text', text: spec.prompts.image }, { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }])],
}));

results.params = await attempt(() => client.chat.completions.create({
  model: spec.model, messages: user(spec.prompts.params), temperature: 0.3, top_p: 0.9, max_completion_tokens: 50, stop: ['END', 'STOP'], seed: 42,
}));

results.unknownModel = await attempt(() => client.chat.completions.create({ model: 'no-such-model', messages: user('hello') }));
results.outOfRange = await attempt(() => client.chat.completions.create({ model: spec.model, messages: user('hello'), top_p: 1.5 }));
results.badKey = await attempt(() => new OpenAI({ baseURL: spec.baseURL, apiKey: 'not-a-key', maxRetries: 0 }).chat.completions
  .create({ model: spec.model, messages: user('hello') }));
results.models = await attempt(async () => (await client.models.list()).data);

{
  const limited = new OpenAI({ baseURL: spec.limitedBaseURL, apiKey: spec.limitedKey, maxRetries: 0 });
  results.limit = [];
  for (let i = 0; i < spec.chatsPerMinute + 1; i++)
    results.limit.push(await attempt(() => limited.chat.completions.create({ model: spec.model, messages: user(`${spec.prompts.limit} ${i}`) })));
}

{
  const ask = () => client.chat.completions.create({ model: spec.model, messages: user(spec.prompts.cache), seed: 7 }).withResponse();
  const first = await ask();
  const second = await ask();
  results.cache = [first, second].map(({ data, response }) => ({ content: data.choices[0].message.content, cache: response.headers.get('x-opossum-cache') }));
}

{
  const ask = () => client.chat.completions.create({ model: spec.model, messages: user(spec.prompts.crowd) }).withResponse();
  const all = await Promise.all(Array.from({ length: 20 }, ask));
  results.crowd = all.map(({ data, response }) => ({ content: data.choices[0].message.content, cache: response.headers.get('x-opossum-cache') }));
}

results.cut = [];
for (let i = 0; i < 2; i++) {
  const chunks = [];
  const outcome = await attempt(async () => {
    const stream = await client.chat.completions.create({ model: spec.model, messages: user(spec.prompts.cut), stream: true });
    for await (const chunk of stream) chunks.push(chunk);
  });
  results.cut.push({ chunks, ...outcome });
}

// A function the model may call, and the app's code that runs it.
const weatherTool = {
  type: 'function',
  function: {
    name: 'lookup_weather', description: 'The weather in a city now.',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  },
};
const lookupWeather = ({ city }) => `sunny in ${city}`;

// The loop a tool-using app runs: ask, run each call the model makes, send the results back, until it answers in words.
// Streamed, with the SDK's stream helper, which joins the delta.tool_calls fragments by index.
async function toolLoop(model, prompt, stream) {
  const messages = user(prompt);
  const steps = [];
  for (let round = 0; round < 3; round++) {
    let completion, chunks = null;
    if (stream) {
      const runner = client.chat.completions.stream({ model, messages, tools: [weatherTool] });
      chunks = await readStream(runner);
      completion = await runner.finalChatCompletion();
    } else {
      completion = await client.chat.completions.create({ model, messages, tools: [weatherTool], parallel_tool_calls: false });
    }
    steps.push({ completion, chunks });
    const message = completion.choices[0].message;
    if (!message.tool_calls?.length) break;
    messages.push(message);
    for (const call of message.tool_calls)
      messages.push({ role: 'tool', tool_call_id: call.id, content: lookupWeather(JSON.parse(call.function.arguments)) });
  }
  return steps;
}

results.toolLoop = await attempt(() => toolLoop(spec.toolModel, spec.prompts.toolLoop, false));
results.toolStream = await attempt(() => toolLoop(spec.toolModel, spec.prompts.toolStream, true));
results.geminiLoop = await attempt(() => toolLoop(spec.geminiModel, spec.prompts.geminiLoop, false));

// The SDK's schema helper: a zod schema as a strict json_schema response_format, the answer parsed into message.parsed.
const Weather = z.object({ city: z.string(), temperature: z.number() });
const parse = (prompt) => client.chat.completions.parse({ model: spec.toolModel, messages: user(prompt), response_format: zodResponseFormat(Weather, 'weather') });
results.parse = await attempt(async () => {
  const completion = await parse(spec.prompts.parse);
  return { parsed: completion.choices[0].message.parsed, content: completion.choices[0].message.content };
});
results.offSchema = await attempt(() => parse(spec.prompts.offSchema));

console.log(JSON.stringify(results));
