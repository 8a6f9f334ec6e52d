// OpenTelemetry for the chat: a Node tracer provider exporting OTLP/HTTP (to `rlhf-otel
// collect`), and the AI SDK release whose spans we want.
//
// AI_SDK_TELEMETRY picks the flavour (all four are installed by package.json):
//   otel    ai 7 + @ai-sdk/otel OpenTelemetry: invoke_agent / step / chat / execute_tool spans (gen_ai.*)
//   legacy  ai 7 + @ai-sdk/otel LegacyOpenTelemetry: ai.generateText(.doGenerate) / ai.streamText(.doStream) (ai.*)
//   v6      ai 6 with experimental_telemetry: ai.* spans, ai.usage.inputTokens/outputTokens
//   v5      ai 5 with experimental_telemetry: ai.* spans, ai.usage.promptTokens/completionTokens
import { readFileSync } from 'node:fs';

import { trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

export const FLAVOURS = Object.freeze(['otel', 'legacy', 'v6', 'v5']);

/**
 * Remembers the first span started under a watched parent: the AI SDK's outermost span of a
 * call made inside the app's request span. Its id is the interaction id rlhf-otel stores.
 */
export class FirstChildSpans {
  #children = new Map();

  watch(parentSpanId) {
    this.#children.set(parentSpanId, null);
  }

  take(parentSpanId) {
    const child = this.#children.get(parentSpanId) ?? null;
    this.#children.delete(parentSpanId);
    return child;
  }

  onStart(span, parentContext) {
    const parent = trace.getSpan(parentContext);
    if (parent === undefined) return;
    const parentId = parent.spanContext().spanId;
    if (this.#children.get(parentId) === null) this.#children.set(parentId, span.spanContext());
  }

  onEnd() {}

  forceFlush() {
    return Promise.resolve();
  }

  shutdown() {
    return Promise.resolve();
  }
}

/**
 * Starts tracing (the global tracer provider) and loads the AI SDK flavour.
 *
 * @param {object} options
 * @param {string} options.flavour one of FLAVOURS
 * @param {string} [options.tracesUrl] OTLP/HTTP traces URL (default: the standard
 *   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces)
 */
export async function startTelemetry({ flavour, tracesUrl }) {
  if (!FLAVOURS.includes(flavour)) {
    throw new RangeError(`AI_SDK_TELEMETRY=${JSON.stringify(flavour)} is not allowed; allowed: ${FLAVOURS.join(', ')}`);
  }
  const firstChildren = new FirstChildSpans();
  const exporter = new OTLPTraceExporter(tracesUrl ? { url: tracesUrl } : {});
  const provider = new NodeTracerProvider({
    spanProcessors: [firstChildren, new BatchSpanProcessor(exporter, { maxQueueSize: 20000 })],
  });
  provider.register();
  const sdk = await loadAiSdk(flavour);
  return { provider, firstChildren, sdk, tracer: trace.getTracer('rlhf-otel-example-chat') };
}

async function loadAiSdk(flavour) {
  if (flavour === 'otel' || flavour === 'legacy') {
    const ai = await import('ai');
    const { createOpenAI } = await import('@ai-sdk/openai');
    const { OpenTelemetry, LegacyOpenTelemetry } = await import('@ai-sdk/otel');
    // runtimeContext: true puts the context we allow (user and session ids) on the spans.
    ai.registerTelemetry(flavour === 'otel' ? new OpenTelemetry({ runtimeContext: true }) : new LegacyOpenTelemetry());
    return {
      ai,
      createOpenAI,
      packages: versions(['ai', '@ai-sdk/openai', '@ai-sdk/otel']),
      callOptions: ({ userId, sessionId }) => ({
        runtimeContext: { userId, sessionId },
        experimental_telemetry: {
          isEnabled: true,
          functionId: 'chat',
          includeRuntimeContext: { userId: true, sessionId: true },
        },
      }),
    };
  }
  const [aiName, openaiName] = flavour === 'v6' ? ['ai-v6', 'ai-sdk-openai-v3'] : ['ai-v5', 'ai-sdk-openai-v2'];
  const ai = await import(aiName);
  const { createOpenAI } = await import(openaiName);
  return {
    ai,
    createOpenAI,
    packages: versions([aiName, openaiName]),
    callOptions: ({ userId, sessionId }) => ({
      experimental_telemetry: { isEnabled: true, functionId: 'chat', metadata: { userId, sessionId } },
    }),
  };
}

function versions(names) {
  return Object.fromEntries(
    names.map((name) => {
      const url = new URL(`./node_modules/${name}/package.json`, import.meta.url);
      return [name, JSON.parse(readFileSync(url, 'utf8')).version];
    }),
  );
}
