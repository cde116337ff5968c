// The model behind the worker: any OpenAI-compatible chat-completions server (vLLM, llama.cpp's
// server, SGLang...) reached over HTTP or a unix socket (backend-target.ts says where it may be).
// The worker meters by the `usage` counts it returns.
import {
    Completion,
    CompletionChunk,
    InferenceRequest,
    chatCompletionChunkSchema,
    chatCompletionSchema,
    isTextCompletionRequest,
    textCompletionChunkSchema,
    textCompletionSchema,
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
    // A chat request goes to /v1/chat/completions, a text completion request to /v1/completions
    // (a backend without it refuses: BackendRejected, the client's 'rejected-by-model').
    complete(request: InferenceRequest): Promise<Completion>;
    // The answer as it is generated (the request is sent with stream: true and usage asked for):
    // resolves once the backend accepted the request (BackendRejected or BackendUnavailable
    // otherwise, before any chunk); the chunks then throw BackendUnavailable if the stream breaks
    // or ends without `data: [DONE]`.
    stream(request: InferenceRequest): Promise<AsyncIterable<CompletionChunk>>;
}

const ROUTES = {
    chat: { path: 'v1/chat/completions', whole: chatCompletionSchema, chunk: chatCompletionChunkSchema, what: 'chat completion' },
    text: { path: 'v1/completions', whole: textCompletionSchema, chunk: textCompletionChunkSchema, what: 'text completion' },
};

export function openAiBackend(backend: string | BackendTarget, o: { apiKey?: string; timeoutMs?: number } = {}): Backend {
    const target = typeof backend === 'string' ? parseBackendTarget(backend) : backend;
    const headers = { 'content-type': 'application/json', ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) };
    const timeoutMs = o.timeoutMs ?? 120_000;
    // Where a request goes, and what its answer must be (made once per kind of request).
    const routeTo = (route: (typeof ROUTES)['chat' | 'text']) => {
        const url =
            target.kind === 'http'
                ? new URL(route.path, target.url.href.endsWith('/') ? target.url : target.url.href + '/')
                : `unix:${target.socketPath} /${route.path}`;
        // (no redirects: one would carry the prompt to wherever the backend points; backend-target.ts)
        const to = target.kind === 'unix' ? { socketPath: target.socketPath, path: '/' + route.path } : { url: url as URL };
        const shown = withoutCredentials(url); // (how messages and logs name it)
        // Never echo the backend's body in the clear: it may contain the request's plaintext.
        const refusal = (status: number, body: unknown) =>
            status >= 400 && status <= 499 && !PROVIDER_SIDE_4XX.has(status)
                ? new BackendRejected(status, body)
                : new BackendUnavailable(`the model backend at ${shown} answered HTTP ${status}`);
        return { ...route, url: shown, to, refusal };
    };
    const routes = { chat: routeTo(ROUTES.chat), text: routeTo(ROUTES.text) };
    const routeOf = (request: InferenceRequest) => routes[isTextCompletionRequest(request) ? 'text' : 'chat'];
    return {
        async complete(request) {
            const route = routeOf(request);
            let res: { status: number; json: unknown };
            try {
                res = await postJson(route.to, JSON.stringify({ ...request, stream: false }), headers, timeoutMs);
            } catch (e) {
                throw new BackendUnavailable(`the model backend at ${route.url} did not answer: ${(e as Error).message}`);
            }
            if (res.status < 200 || res.status > 299) throw route.refusal(res.status, res.json);
            const parsed = route.whole.safeParse(res.json);
            if (!parsed.success) {
                throw new BackendUnavailable(
                    `the model backend at ${route.url} returned no OpenAI ${route.what} with usage counts (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}); the worker meters by them`,
                );
            }
            return parsed.data;
        },

        async stream(request) {
            const route = routeOf(request);
            const body = JSON.stringify({
                ...request,
                stream: true,
                stream_options: { ...(request.stream_options as object), include_usage: true },
            });
            let res;
            try {
                res = await postForStream(route.to, body, headers, timeoutMs);
            } catch (e) {
                throw new BackendUnavailable(`the model backend at ${route.url} did not answer: ${(e as Error).message}`);
            }
            if (res.status < 200 || res.status > 299) throw route.refusal(res.status, await res.json());
            if (!res.contentType.includes('text/event-stream')) {
                res.abort();
                throw new BackendUnavailable(
                    `the model backend at ${route.url} did not stream its answer (content-type ${res.contentType || 'none'})`,
                );
            }
            return sseChunks(res.lines(), route.url, route);
        },
    };
}

function withoutCredentials(url: URL | string): string {
    if (typeof url === 'string' || !url.username) return String(url);
    const shown = new URL(url);
    shown.username = '';
    shown.password = '';
    return String(shown);
}

// The chunks of a server-sent events stream as OpenAI sends them: `data: {json}` lines, then
// `data: [DONE]`. Comments and other fields are skipped.
async function* sseChunks(
    lines: AsyncIterable<string>,
    url: string,
    route: { chunk: typeof chatCompletionChunkSchema | typeof textCompletionChunkSchema; what: string },
): AsyncIterable<CompletionChunk> {
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
            const chunk = route.chunk.safeParse(json);
            if (!chunk.success)
                throw new BackendUnavailable(`the model backend at ${url} streamed something that is not a ${route.what} chunk`);
            yield chunk.data;
        }
    } catch (e) {
        if (e instanceof BackendUnavailable) throw e;
        throw new BackendUnavailable(`the model backend at ${url} broke off its stream: ${(e as Error).message}`);
    }
    throw new BackendUnavailable(`the model backend at ${url} ended its stream without data: [DONE]`);
}
