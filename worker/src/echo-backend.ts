// The built-in backend for the demo and tests: an OpenAI-compatible chat-completions server that
// needs no model download. It is NOT a language model: it answers by quoting the last user
// message back, and counts "tokens" as words and punctuation marks. It exercises what a real
// server does, deterministically:
// - streaming (`stream: true`: server-sent events, one chunk per word, `data: [DONE]`, usage in a
//   last chunk with `stream_options.include_usage`);
// - tool calls: given `tools`, a user turn is answered by calling the first function with
//   `{"text": <the user's message>}`; a tool result is answered by quoting it;
// - `response_format` json_object or json_schema: the answer is a JSON object `{"echo": ...}`;
// - usage details: prompt tokens of a system message seen before count as cached
//   (prompt_tokens_details.cached_tokens), and `reasoning_effort` spends 8, 16 or 32 reasoning
//   tokens (completion_tokens_details.reasoning_tokens) within max_tokens.
import Fastify, { FastifyInstance, FastifyReply } from 'fastify';
import { createHash } from 'crypto';
import { ChatRequest, TextCompletionRequest, chatRequestSchema, textCompletionRequestSchema } from '../../protocol/worker-api';

export const ECHO_PREFIX = '[built-in test backend, not a language model] You said:';
// Its context window: a longer prompt is refused with HTTP 400, as a real server refuses one.
export const ECHO_CONTEXT_TOKENS = 32_768;
export const ECHO_REASONING_TOKENS: Record<string, number> = { minimal: 0, low: 8, medium: 16, high: 32 };

export function countTokens(text: string): number {
    return (text.match(/[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu) ?? []).length;
}

type Message = ChatRequest['messages'][number];

// A message's text: a string, or the text of its text parts.
function textOf(m: Message): string {
    if (typeof m.content === 'string') return m.content;
    if (!Array.isArray(m.content)) return '';
    return m.content.map((p) => (p.type === 'text' && typeof p.text === 'string' ? p.text : '')).join('');
}

interface Answer {
    content: string | null;
    toolCalls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
    finish: string;
    usage: {
        prompt_tokens: number;
        completion_tokens: number;
        total_tokens: number;
        prompt_tokens_details: { cached_tokens: number };
        completion_tokens_details: { reasoning_tokens: number };
    };
}

// Listens on host:port, or on a unix socket when `socket` names one (then `url` is unix:PATH).
export async function startEchoBackend(
    o: { host?: string; port?: number; socket?: string; delayMs?: number } = {},
): Promise<{ url: string; app: FastifyInstance; setDelay(ms: number, o?: { perChunkMs?: number }): void }> {
    const app = Fastify({ logger: false, bodyLimit: 4 * 1024 * 1024 });
    let served = 0;
    let delayMs = o.delayMs ?? 0; // a slow model, for tests of clients that give up
    let perChunkMs = 0; // a stream that comes slowly
    const setDelay = (ms: number, d: { perChunkMs?: number } = {}) => {
        delayMs = ms;
        perChunkMs = d.perChunkMs ?? 0;
    };
    const seenSystemPrompts = new Set<string>(); // its "prompt cache"

    const answer = (request: ChatRequest): Answer | { refusal: string } => {
        const { messages } = request;
        const prompt = messages.reduce((n, m) => n + countTokens(textOf(m)) + 4, 0);
        if (prompt > ECHO_CONTEXT_TOKENS)
            return {
                refusal: `This model's maximum context length is ${ECHO_CONTEXT_TOKENS} tokens. However, your messages resulted in ${prompt} tokens.`,
            };
        let cached = 0;
        for (const m of messages) {
            if (m.role !== 'system' && m.role !== 'developer') continue;
            const key = createHash('sha256').update(textOf(m)).digest('hex');
            if (seenSystemPrompts.has(key)) cached += countTokens(textOf(m)) + 4;
            if (seenSystemPrompts.size >= 10_000) seenSystemPrompts.clear();
            seenSystemPrompts.add(key);
        }
        const maxTokens = request.max_completion_tokens ?? request.max_tokens ?? Infinity;
        const effort = typeof request.reasoning_effort === 'string' ? request.reasoning_effort : undefined;
        const reasoning = Math.min(ECHO_REASONING_TOKENS[effort ?? 'minimal'] ?? 0, maxTokens);
        const usage = (completion: number) => ({
            prompt_tokens: prompt,
            completion_tokens: completion + reasoning,
            total_tokens: prompt + completion + reasoning,
            prompt_tokens_details: { cached_tokens: cached },
            completion_tokens_details: { reasoning_tokens: reasoning },
        });
        const last = messages[messages.length - 1];
        const tools = Array.isArray(request.tools) ? (request.tools as { type?: string; function?: { name?: string } }[]) : [];
        const tool = tools.find((t) => t.type === 'function' && typeof t.function?.name === 'string');
        if (tool && last.role === 'user' && request.tool_choice !== 'none') {
            const args = JSON.stringify({ text: textOf(last) });
            return {
                content: null,
                toolCalls: [{ id: `call_${served + 1}`, type: 'function', function: { name: tool.function!.name!, arguments: args } }],
                finish: 'tool_calls',
                usage: usage(countTokens(args) + 4),
            };
        }
        const quoted =
            last.role === 'tool'
                ? `the tool returned: ${textOf(last)}`
                : textOf([...messages].reverse().find((m) => m.role === 'user') ?? last);
        const format = (request.response_format as { type?: string } | undefined)?.type;
        let text = '';
        let finish = 'stop';
        if (format === 'json_object' || format === 'json_schema') {
            text = JSON.stringify({ echo: quoted });
        } else {
            // Keep at most max_tokens tokens of the answer, as a real server would.
            for (const w of `${ECHO_PREFIX} ${quoted}`.split(/(\s+)/)) {
                if (countTokens(text + w) + reasoning > maxTokens) {
                    finish = 'length';
                    break;
                }
                text += w;
            }
        }
        return { content: text, finish, usage: usage(countTokens(text)) };
    };

    app.post('/v1/chat/completions', async (req, reply) => {
        const body = chatRequestSchema.safeParse(req.body);
        if (!body.success) return reply.status(400).send({ error: { message: body.error.issues[0]?.message ?? 'bad request' } });
        const request = body.data;
        const a = answer(request);
        if ('refusal' in a)
            return reply
                .status(400)
                .send({ error: { message: a.refusal, type: 'invalid_request_error', code: 'context_length_exceeded' } });
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        served += 1;
        const id = `echo-${served}`;
        const created = Math.floor(Date.now() / 1000);
        const message = { role: 'assistant', content: a.content, ...(a.toolCalls ? { tool_calls: a.toolCalls } : {}) };
        if (request.stream) return stream(reply, request, id, created, a, perChunkMs);
        return {
            id,
            object: 'chat.completion',
            created,
            model: request.model,
            choices: [{ index: 0, message, finish_reason: a.finish }],
            usage: a.usage,
        };
    });
    // Text completions (the legacy API): the prompt answered as a user message would be.
    app.post('/v1/completions', async (req, reply) => {
        const body = textCompletionRequestSchema.safeParse(req.body);
        if (!body.success) return reply.status(400).send({ error: { message: body.error.issues[0]?.message ?? 'bad request' } });
        const request = body.data;
        const prompt = request.prompt;
        const text =
            typeof prompt === 'string' ? prompt : typeof prompt[0] === 'string' ? (prompt[0] as string) : `${prompt.length} token ids`;
        // (the length is max_tokens only, as vLLM and llama.cpp read a text completion's)
        const { prompt: _, max_completion_tokens: _ignored, ...rest } = request;
        const a = answer({ ...rest, messages: [{ role: 'user', content: text }] } as ChatRequest);
        if ('refusal' in a) return reply.status(400).send({ error: { message: a.refusal, type: 'invalid_request_error' } });
        const promptTokens = Array.isArray(prompt) && typeof prompt[0] === 'number' ? prompt.length : countTokens(text);
        const usage = { ...a.usage, prompt_tokens: promptTokens, total_tokens: promptTokens + a.usage.completion_tokens };
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        served += 1;
        const id = `echo-text-${served}`;
        const created = Math.floor(Date.now() / 1000);
        if (request.stream) return streamText(reply, request, id, created, { ...a, usage }, perChunkMs);
        return {
            id,
            object: 'text_completion',
            created,
            model: request.model,
            choices: [{ index: 0, text: a.content ?? '', finish_reason: a.finish, logprobs: null }],
            usage,
        };
    });
    app.get('/v1/models', async () => ({ object: 'list', data: [{ id: 'echo', object: 'model', owned_by: 'cocoon' }] }));
    if (o.socket) {
        await app.listen({ path: o.socket });
        return { url: `unix:${o.socket}`, app, setDelay };
    }
    const address = await app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 0 });
    return { url: address, app, setDelay };
}

// The answer as server-sent events, as OpenAI streams it: a first chunk with the role, one chunk
// per word (or the tool call whole), a last chunk with finish_reason, then the usage chunk when
// asked for (stream_options.include_usage), then `data: [DONE]`.
async function stream(reply: FastifyReply, request: ChatRequest, id: string, created: number, a: Answer, perChunkMs: number) {
    const chunk = (delta: object, finish: string | null = null) => ({
        id,
        object: 'chat.completion.chunk',
        created,
        model: request.model,
        choices: [{ index: 0, delta, finish_reason: finish }],
    });
    const events: object[] = [chunk({ role: 'assistant', content: a.toolCalls ? null : '' })];
    if (a.toolCalls) events.push(chunk({ tool_calls: a.toolCalls.map((c, index) => ({ index, ...c })) }));
    else for (const piece of (a.content ?? '').split(/(?<=\s)/)) if (piece) events.push(chunk({ content: piece }));
    events.push(chunk({}, a.finish));
    const options = request.stream_options as { include_usage?: boolean } | undefined;
    if (options?.include_usage)
        events.push({ id, object: 'chat.completion.chunk', created, model: request.model, choices: [], usage: a.usage });
    return writeEvents(reply, events, perChunkMs);
}

// A text completion as server-sent events: a chunk per word, the last with finish_reason, then
// the usage chunk when asked for, then `data: [DONE]`.
async function streamText(reply: FastifyReply, request: TextCompletionRequest, id: string, created: number, a: Answer, perChunkMs: number) {
    const chunk = (text: string, finish: string | null = null) => ({
        id,
        object: 'text_completion',
        created,
        model: request.model,
        choices: [{ index: 0, text, finish_reason: finish, logprobs: null }],
    });
    const events: object[] = [];
    for (const piece of (a.content ?? '').split(/(?<=\s)/)) if (piece) events.push(chunk(piece));
    events.push(chunk('', a.finish));
    if ((request.stream_options as { include_usage?: boolean } | undefined)?.include_usage)
        events.push({ id, object: 'text_completion', created, model: request.model, choices: [], usage: a.usage });
    return writeEvents(reply, events, perChunkMs);
}

async function writeEvents(reply: FastifyReply, events: object[], perChunkMs: number) {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    for (const e of events) {
        if (perChunkMs > 0) await new Promise((r) => setTimeout(r, perChunkMs));
        if (reply.raw.destroyed) return;
        reply.raw.write(`data: ${JSON.stringify(e)}\n\n`);
    }
    reply.raw.end('data: [DONE]\n\n');
}
