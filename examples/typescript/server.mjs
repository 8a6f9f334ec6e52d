// A small Node chat on the Vercel AI SDK, traced with OpenTelemetry into `rlhf-otel collect`,
// with the rlhf-otel feedback widget under each answer.
//
//   OPENAI_BASE_URL=http://127.0.0.1:8080/v1 OPENAI_API_KEY=... \
//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:4320/v1/traces \
//   RLHF_OTEL_FEEDBACK_SECRET=... RLHF_FEEDBACK_URL=http://127.0.0.1:8000 \
//   node server.mjs
//
// Environment (see README.md): PORT (default 3000; 0: any free port), HOST (127.0.0.1),
// CHAT_MODELS (comma separated, the first is the default), AI_SDK_TELEMETRY (otel, legacy, v6,
// v5), RLHF_OTEL_FEEDBACK_KEY_ID (k0).
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';

import { SpanStatusCode } from '@opentelemetry/api';
import { z } from 'zod';

import { mintFeedbackToken } from './feedback-token.mjs';
import { startTelemetry } from './telemetry.mjs';

const env = process.env;
const config = {
  host: env.HOST ?? '127.0.0.1',
  port: Number(env.PORT ?? 3000),
  baseURL: required('OPENAI_BASE_URL'),
  apiKey: env.OPENAI_API_KEY ?? 'not-needed-for-a-local-server',
  models: (env.CHAT_MODELS ?? 'gpt-4o-mini').split(',').map((m) => m.trim()).filter(Boolean),
  flavour: env.AI_SDK_TELEMETRY ?? 'otel',
  secret: required('RLHF_OTEL_FEEDBACK_SECRET'),
  keyId: env.RLHF_OTEL_FEEDBACK_KEY_ID ?? 'k0',
  feedbackUrl: required('RLHF_FEEDBACK_URL').replace(/\/+$/, ''),
};
const MAX_BODY_BYTES = 64 * 1024;
const MAX_MESSAGE_CHARS = 8000;
const SYSTEM = 'You are a helpful assistant. Use the weather tool for questions about the weather.';

function required(name) {
  const value = env[name];
  if (!value) {
    console.error(`rlhf-otel example: error: set ${name}`);
    process.exit(2);
  }
  return value;
}

const { provider, firstChildren, sdk, tracer } = await startTelemetry({ flavour: config.flavour });
const { ai } = sdk;
const openai = sdk.createOpenAI({ baseURL: config.baseURL, apiKey: config.apiKey });
const tools = {
  weather: ai.tool({
    description: 'The current weather in a city',
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => ({ city, forecast: 'sunny', celsius: 21 }),
  }),
};

const page = readFileSync(new URL('./public/index.html', import.meta.url), 'utf8')
  .replaceAll('%FEEDBACK_URL%', escapeHtml(config.feedbackUrl))
  .replace('%MODEL_OPTIONS%', config.models.map((m) => `<option>${escapeHtml(m)}</option>`).join(''));
const chatJs = readFileSync(new URL('./public/chat.js', import.meta.url));

/**
 * Runs one AI SDK call inside the app's request span. The AI SDK's outermost span under it is
 * the interaction rlhf-otel stores; its id is `<trace id>-<span id>`.
 */
async function traced(name, run) {
  return tracer.startActiveSpan(name, async (span) => {
    const parentId = span.spanContext().spanId;
    firstChildren.watch(parentId);
    let error = null;
    try {
      await run();
    } catch (caught) {
      error = caught;
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorText(caught) });
    } finally {
      span.end();
    }
    return { interactionId: interactionIdOf(firstChildren.take(parentId)), error };
  });
}

function interactionIdOf(spanContext) {
  return spanContext ? `${spanContext.traceId}-${spanContext.spanId}` : null;
}

function callOptions(req) {
  return {
    model: openai.chat(req.model),
    system: SYSTEM,
    prompt: req.message,
    tools,
    stopWhen: ai.stepCountIs(3),
    maxRetries: 0,
    ...sdk.callOptions({ userId: req.userId, sessionId: req.sessionId }),
  };
}

function feedbackFor(interactionId, userId) {
  if (interactionId === null) return { interaction_id: null, token: null }; // telemetry off
  const token = mintFeedbackToken({
    secret: config.secret,
    keyId: config.keyId,
    interactionIds: interactionId,
    types: ['binary', 'rating', 'text'],
    userId,
  });
  return { interaction_id: interactionId, token };
}

async function answerPlain(req, res) {
  let result;
  const { interactionId, error } = await traced('chat request', async () => {
    result = await ai.generateText(callOptions(req));
  });
  if (error) {
    sendJson(res, 502, { error: 'model_error', detail: errorText(error), interaction_id: interactionId });
    return;
  }
  const toolCalls = result.steps.flatMap((s) => s.toolCalls).map((c) => ({ name: c.toolName, input: c.input }));
  sendJson(res, 200, { answer: result.text, tool_calls: toolCalls, ...feedbackFor(interactionId, req.userId) });
}

async function answerStreamed(req, res) {
  res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store' });
  const line = (obj) => res.write(`${JSON.stringify(obj)}\n`);
  const { interactionId, error } = await traced('chat request', async () => {
    const result = ai.streamText(callOptions(req));
    for await (const part of result.fullStream) {
      if (part.type === 'text-delta') line({ type: 'delta', text: part.text ?? part.delta ?? '' });
      else if (part.type === 'tool-call') line({ type: 'tool_call', name: part.toolName, input: part.input });
      else if (part.type === 'error') throw part.error;
    }
  });
  if (error) line({ type: 'error', error: 'model_error', detail: errorText(error), interaction_id: interactionId });
  else line({ type: 'done', ...feedbackFor(interactionId, req.userId) });
  res.end();
}

function errorText(error) {
  return String(error?.message ?? error).slice(0, 500);
}

function parseChat(body) {
  const data = JSON.parse(body);
  const message = data?.message;
  if (typeof message !== 'string' || message.trim() === '' || message.length > MAX_MESSAGE_CHARS) {
    throw new RangeError(`message must be a non-empty string of at most ${MAX_MESSAGE_CHARS} characters`);
  }
  const model = data.model ?? config.models[0];
  if (!config.models.includes(model)) {
    throw new RangeError(`model ${JSON.stringify(model)} is not allowed; allowed: ${config.models.join(', ')}`);
  }
  const id = (v, what) => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,255}$/.test(v)) {
      throw new RangeError(`${what} is malformed: 1-256 of A-Z a-z 0-9 . _ : @ / + = -`);
    }
    return v;
  };
  return {
    message,
    model,
    stream: data.stream === true,
    userId: id(data.user_id, 'user_id') ?? `visitor-${randomUUID()}`,
    sessionId: id(data.session_id, 'session_id'),
  };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new RangeError(`body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const server = createServer(async (req, res) => {
  const path = new URL(req.url, 'http://localhost').pathname;
  try {
    if (req.method === 'GET' && path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(page);
    } else if (req.method === 'GET' && path === '/chat.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(chatJs);
    } else if (req.method === 'GET' && path === '/healthz') {
      sendJson(res, 200, { status: 'ok', flavour: config.flavour, packages: sdk.packages });
    } else if (req.method === 'POST' && path === '/api/chat') {
      let chat;
      try {
        chat = parseChat(await readBody(req));
      } catch (error) {
        sendJson(res, 400, { error: 'bad_request', detail: errorText(error) });
        return;
      }
      await (chat.stream ? answerStreamed(chat, res) : answerPlain(chat, res));
    } else {
      sendJson(res, 404, { error: 'not_found', detail: `no route ${req.method} ${path}` });
    }
  } catch (error) {
    console.error('rlhf-otel example: request failed:', errorText(error));
    if (!res.headersSent) sendJson(res, 500, { error: 'internal', detail: 'internal error' });
    else res.end();
  }
});

async function stop() {
  server.close();
  await provider.forceFlush();
  await provider.shutdown();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

server.listen(config.port, config.host, () => {
  const { address, port } = server.address();
  console.error(`listening on http://${address}:${port} (AI SDK telemetry: ${config.flavour}, ${JSON.stringify(sdk.packages)})`);
});
