// The model behind the worker: any OpenAI-compatible chat-completions server (vLLM, llama.cpp's
// server, SGLang...) reached over HTTP or a unix socket (backend-target.ts says where it may be).
// The worker meters by the `usage` counts it returns.
import {
    ChatCompletion,
    ChatCompletionChunk,
    ChatRequest,
    chatCompletionChunkSchema,
    chatCompletionSchema,
} from '../../protocol/worker-api';
import { BackendTarget, parseBackendTarget } from './backend-target';
import { postForStream, postJson } from '../../protocol/http-post';

export class BackendUnavailable extends Error {
    constructor(message: string) {
        super(message);
        this.name = 'BackendUnavailable';
    }
}

// The backend refused the request itself (HTTP 400, 404, 413, 422...: a context too long, an
// unknown parameter): the client's mistake, not the provider's. `body` is the backend's
// explanation; it may quote the request, so it only ever travels encrypted to the client.
export class BackendRejected extends Error {
    constructor(
        readonly status: number,
        readonly body: unknown,
    ) {
        super(`the model backend refused the request (HTTP ${status})`);
        this.name = 'BackendRejected';
    }
}

// Statuses that are the provider's own problem even though they are 4xx: the backend's
// credentials or its capacity.
const PROVIDER_SIDE_4XX = new Set([401, 403, 407, 408, 429]);

export interface Backend {
    complete(request: ChatRequest): Promise<ChatCompletion>;
    // The answer as it is generated (the request is sent with stream: true and usage asked for):
    // resolves once the backend accepted the request (BackendRejected or BackendUnavailable
    // otherwise, before any chunk); the chunks then throw BackendUnavailable if the stream breaks
    // or ends without `data: [DONE]`.
    stream(request: ChatRequest): Promise<AsyncIterable<ChatCompletionChunk>>;
}

export function openAiBackend(backend: string | BackendTarget, o: { apiKey?: string; timeoutMs?: number } = {}): Backend {
    const target = typeof backend === 'string' ? parseBackendTarget(backend) : backend;
    const path = 'v1/chat/completions';
    const url =
        target.kind === 'http'
            ? new URL(path, target.url.href.endsWith('/') ? target.url : target.url.href + '/')
            : `unix:${target.socketPath} /${path}`;
    const headers = { 'content-type': 'application/json', ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) };
    const timeoutMs = o.timeoutMs ?? 120_000;
    // (no redirects: one would carry the prompt to wherever the backend points; backend-target.ts)
    const to = target.kind === 'unix' ? { socketPath: target.socketPath, path: '/' + path } : { url: url as URL };
    const post = (body: string) => postJson(to, body, headers, timeoutMs);
    // Never echo the backend's body in the clear: it may contain the request's plaintext.
    const refusal = (status: number, body: unknown) =>
        status >= 400 && status <= 499 && !PROVIDER_SIDE_4XX.has(status)
            ? new BackendRejected(status, body)
            : new BackendUnavailable(`the model backend at ${url} answered HTTP ${status}`);
    return {
        async complete(request) {
            let res: { status: number; json: unknown };
            try {
                res = await post(JSON.stringify({ ...request, stream: false }));
            } catch (e) {
                throw new BackendUnavailable(`the model backend at ${url} did not answer: ${(e as Error).message}`);
            }
            if (res.status < 200 || res.status > 299) throw refusal(res.status, res.json);
            const parsed = chatCompletionSchema.safeParse(res.json);
            if (!parsed.success) {
                throw new BackendUnavailable(
                    `the model backend at ${url} returned no OpenAI chat completion with usage counts (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}); the worker meters by them`,
                );
            }
            return parsed.data;
        },

        async stream(request) {
            const body = JSON.stringify({
                ...request,
                stream: true,
                stream_options: { ...(request.stream_options as object), include_usage: true },
            });
            let res;
            try {
                res = await postForStream(to, body, headers, timeoutMs);
            } catch (e) {
                throw new BackendUnavailable(`the model backend at ${url} did not answer: ${(e as Error).message}`);
            }
            if (res.status < 200 || res.status > 299) throw refusal(res.status, await res.json());
            if (!res.contentType.includes('text/event-stream')) {
                res.abort();
                throw new BackendUnavailable(
                    `the model backend at ${url} did not stream its answer (content-type ${res.contentType || 'none'})`,
                );
            }
            return sseChunks(res.lines(), String(url));
        },
    };
}

// The chunks of a server-sent events stream as OpenAI sends them: `data: {json}` lines, then
// `data: [DONE]`. Comments and other fields are skipped.
async function* sseChunks(lines: AsyncIterable<string>, url: string): AsyncIterable<ChatCompletionChunk> {
    try {
        for await (const line of lines) {
            if (!line.startsWith('data:')) continue;
            const data = line.slice(5).trim();
            if (data === '[DONE]') return;
            let json: unknown;
            try {
                json = JSON.parse(data);
            } catch {
                throw new BackendUnavailable(`the model backend at ${url} streamed something that is not JSON`);
            }
            const chunk = chatCompletionChunkSchema.safeParse(json);
            if (!chunk.success)
                throw new BackendUnavailable(`the model backend at ${url} streamed something that is not a chat completion chunk`);
            yield chunk.data;
        }
    } catch (e) {
        if (e instanceof BackendUnavailable) throw e;
        throw new BackendUnavailable(`the model backend at ${url} broke off its stream: ${(e as Error).message}`);
    }
    throw new BackendUnavailable(`the model backend at ${url} ended its stream without data: [DONE]`);
}
