// Opossum Search's page: chat (chatStream over text/event-stream, graphql-sse's distinct connections mode),
// service status and recent traces, all from this gateway's /graphql. No build step, nothing from other hosts.
'use strict';

const traceUrl = document.querySelector('meta[name="opossum-trace-url"]').content;
const keyStore = 'opossum-api-key';
const $ = (id) => document.getElementById(id);
let conversationId = null;
let models = [];
let image = null;

// ---- GraphQL over HTTP -------------------------------------------------------------------------

class GraphQLError extends Error {
  constructor(message, code, traceId) {
    super(message);
    this.code = code;
    this.traceId = traceId;
  }
}

function headers(accept) {
  const h = { 'Content-Type': 'application/json', Accept: accept };
  const key = sessionStorage.getItem(keyStore);
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

function failure(body, status) {
  const error = body?.errors?.[0];
  if (!error) return new GraphQLError(`HTTP ${status}`, `HTTP_${status}`);
  return new GraphQLError(error.message, error.extensions?.code ?? 'ERROR', error.extensions?.traceId);
}

async function unauthorised(response) {
  if (response.status !== 401) return false;
  showKeyForm();
  return true;
}

async function query(document, variables = {}) {
  const response = await fetch('/graphql', { method: 'POST', headers: headers('application/graphql-response+json'), body: JSON.stringify({ query: document, variables }) });
  const body = await response.json().catch(() => null);
  if (await unauthorised(response)) throw failure(body, response.status);
  if (body?.errors?.length) throw failure(body, response.status);
  if (!response.ok) throw failure(body, response.status);
  return body.data;
}

// Server-sent events from a POST: "event: next" with a result as data, then "event: complete".
async function* subscribe(document, variables) {
  const response = await fetch('/graphql', { method: 'POST', headers: headers('text/event-stream'), body: JSON.stringify({ query: document, variables }) });
  if (!response.ok || !(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    const body = await response.json().catch(() => null);
    await unauthorised(response);
    throw failure(body, response.status);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue; // a comment: the stream is alive
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = text;
        else if (field === 'data') data.push(text);
      }
      if (event === 'complete') return;
      if (event === 'next' && data.length) yield JSON.parse(data.join('\n'));
    }
  }
}

// ---- Keys -----------------------------------------------------------------------------------------

function showKeyForm() {
  $('key-form').hidden = false;
  $('key-input').focus();
}

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(keyStore, $('key-input').value.trim());
  $('key-input').value = '';
  $('key-form').hidden = true;
  loadModels();
  refreshStatus();
});

// ---- Chat -----------------------------------------------------------------------------------------

const streamQuery = `subscription Stream($input: ChatInput!) {
  chatStream(input: $input) { delta done conversationId traceId message backendUsed modelUsed cached tokensUsed fallbackReason }
}`;

function append(role, text) {
  const item = document.createElement('li');
  item.className = role;
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  item.append(body);
  $('messages').append(item);
  item.scrollIntoView({ block: 'end' });
  return item;
}

function meta(item, parts) {
  const line = document.createElement('span');
  line.className = 'meta';
  for (const [i, part] of parts.entries()) {
    if (i > 0) line.append(' · ');
    line.append(part);
  }
  item.append(line);
}

function traceLink(traceId) {
  if (!traceId) return '';
  if (!traceUrl) return `trace ${traceId}`;
  const link = document.createElement('a');
  link.href = traceUrl.replace('{traceId}', encodeURIComponent(traceId));
  link.textContent = `trace ${traceId}`;
  link.target = '_blank';
  link.rel = 'noopener';
  return link;
}

function showError(item, error) {
  item.className = 'assistant error';
  item.querySelector('.text').textContent ||= 'No answer.';
  meta(item, [`${error.code ?? 'ERROR'}: ${error.message}`, traceLink(error.traceId)]);
}

async function send(message) {
  append('user', message);
  const answer = append('assistant', '');
  const text = answer.querySelector('.text');
  const started = performance.now();
  const input = { message };
  if (conversationId) input.conversationId = conversationId;
  if ($('model').value) input.model = $('model').value;
  if (image) input.imageBase64 = image;
  clearImage();
  $('send').disabled = true;
  try {
    let last = null;
    for await (const result of subscribe(streamQuery, { input })) {
      if (result.errors?.length) {
        const e = result.errors[0];
        throw new GraphQLError(e.message, e.extensions?.code, e.extensions?.traceId);
      }
      const chunk = result.data.chatStream;
      text.textContent += chunk.delta;
      last = chunk;
      if (chunk.done) break;
    }
    if (!last?.done) throw new GraphQLError('The answer ended before it was complete.', 'CUT');
    conversationId = last.conversationId;
    text.textContent = last.message;
    const parts = [`${last.backendUsed} · ${last.modelUsed}`, last.cached ? 'cached' : 'generated',
      `${Math.round(performance.now() - started)} ms`, traceLink(last.traceId)];
    if (last.fallbackReason) parts.push(`fallback: ${last.fallbackReason}`);
    meta(answer, parts);
  } catch (error) {
    showError(answer, error);
  } finally {
    $('send').disabled = false;
    $('message').focus();
  }
}

$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const message = $('message').value.trim();
  if (!message || $('send').disabled) return;
  $('message').value = '';
  send(message);
});

$('message').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $('composer').requestSubmit();
  }
});

$('new-conversation').addEventListener('click', () => {
  conversationId = null;
  $('messages').replaceChildren();
  $('message').focus();
});

function clearImage() {
  image = null;
  $('image').value = '';
  $('attached').textContent = '';
}

$('image').addEventListener('change', () => {
  const file = $('image').files[0];
  if (!file) return clearImage();
  const reader = new FileReader();
  reader.onload = () => {
    image = reader.result; // a data: URL, which chat accepts as imageBase64
    $('attached').textContent = file.name;
  };
  reader.readAsDataURL(file);
});

function modelChanged() {
  const chosen = models.find((m) => m.name === $('model').value);
  const takesImages = chosen ? chosen.supportsImages : models.some((m) => m.supportsImages && m.available);
  $('attach-label').hidden = !takesImages;
  if (!takesImages) clearImage();
}

$('model').addEventListener('change', modelChanged);

async function loadModels() {
  try {
    models = (await query('{ models { name backend available supportsImages } }')).models;
    const select = $('model');
    select.replaceChildren(new Option('default', ''));
    for (const m of models) {
      const option = new Option(`${m.name} (${m.backend})${m.available ? '' : ' — unavailable'}`, m.name);
      select.append(option);
    }
    modelChanged();
  } catch (error) {
    if (error.code !== 'UNAUTHENTICATED') append('assistant error', `Models could not be loaded: ${error.code}: ${error.message}`);
  }
}

// ---- Status and traces ----------------------------------------------------------------------------

function cell(row, label, content) {
  const td = document.createElement('td');
  td.dataset.label = label;
  td.append(content ?? '');
  row.append(td);
  return td;
}

async function refreshStatus() {
  try {
    const data = await query('{ services { name state lastChecked latencyMs lastError } cacheStats { hits misses hitRatio } }');
    const rows = data.services.map((s) => {
      const row = document.createElement('tr');
      cell(row, 'Service', s.name);
      const state = document.createElement('span');
      state.className = `state-${s.state}`;
      state.textContent = s.state;
      cell(row, 'State', state);
      cell(row, 'Last check', s.lastChecked ? new Date(s.lastChecked).toLocaleTimeString() : '—');
      cell(row, 'Latency', s.latencyMs == null ? '—' : `${Math.round(s.latencyMs)} ms`);
      cell(row, 'Last error', s.lastError ?? '');
      return row;
    });
    $('services').replaceChildren(...rows);
    const c = data.cacheStats;
    $('cache').textContent = `${c.hits} hits, ${c.misses} misses (${Math.round(c.hitRatio * 100)} % answered from the cache)`;
    $('status-updated').textContent = `Updated ${new Date().toLocaleTimeString()}; refreshed every 5 s.`;
  } catch (error) {
    $('status-updated').textContent = `Status could not be read: ${error.code}: ${error.message}`;
  }
}

async function refreshTraces() {
  try {
    const traces = (await query('{ recentTraces(limit: 20) { traceId rootName durationMs spanCount status services } }')).recentTraces;
    const rows = traces.map((t) => {
      const row = document.createElement('tr');
      cell(row, 'Root', t.rootName);
      cell(row, 'Duration', `${t.durationMs.toFixed(1)} ms`);
      cell(row, 'Spans', String(t.spanCount));
      cell(row, 'Status', t.status);
      cell(row, 'Services', t.services.join(', '));
      cell(row, 'Trace id', traceUrl ? traceLink(t.traceId) : t.traceId);
      return row;
    });
    $('trace-rows').replaceChildren(...rows);
    $('traces-note').textContent = traces.length ? '' : 'No traces yet: send a message.';
  } catch (error) {
    $('trace-rows').replaceChildren();
    $('traces-note').textContent = error.code === 'FORBIDDEN'
      ? 'Recent traces show every client\'s traffic, so they are for operators: enter an admin key to see them.'
      : `Traces could not be read: ${error.code}: ${error.message}`;
  }
}

// ---- Views ----------------------------------------------------------------------------------------

function show(view) {
  for (const tab of document.querySelectorAll('.tab')) tab.setAttribute('aria-pressed', String(tab.dataset.view === view));
  for (const section of document.querySelectorAll('.view')) section.hidden = section.id !== view;
  if (view === 'status') refreshStatus();
  if (view === 'traces') refreshTraces();
}

for (const tab of document.querySelectorAll('.tab')) tab.addEventListener('click', () => show(tab.dataset.view));

setInterval(() => {
  if (document.hidden) return;
  if (!$('status').hidden) refreshStatus();
  if (!$('traces').hidden) refreshTraces();
}, 5000);

// Without a key where one is needed, ask first: nothing is requested that would only be refused.
if (document.querySelector('meta[name="opossum-keys-required"]').content === 'true' && !sessionStorage.getItem(keyStore)) {
  showKeyForm();
} else {
  loadModels();
  refreshStatus();
  $('message').focus();
}
