// The model behind the worker: any OpenAI-compatible chat-completions server (vLLM, llama.cpp's
// server, SGLang...) reached over HTTP or a unix socket (backend-target.ts says where it may be).
// The worker meters by the `usage` counts it returns.
import { ChatCompletion, ChatRequest, chatCompletionSchema } from '../../protocol/worker-api';
import { BackendTarget, parseBackendTarget } from './backend-target';
import { postJson } from '../../protocol/http-post';

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
    const post = (body: string) =>
        postJson(
            target.kind === 'unix' ? { socketPath: target.socketPath, path: '/' + path } : { url: url as URL },
            body,
            headers,
            timeoutMs,
        );
    return {
        async complete(request) {
            let res: { status: number; json: unknown };
            try {
                res = await post(JSON.stringify({ ...request, stream: false }));
            } catch (e) {
                throw new BackendUnavailable(`the model backend at ${url} did not answer: ${(e as Error).message}`);
            }
            // Never echo the backend's body in the clear: it may contain the request's plaintext.
            if (res.status >= 400 && res.status <= 499 && !PROVIDER_SIDE_4XX.has(res.status))
                throw new BackendRejected(res.status, res.json);
            if (res.status < 200 || res.status > 299)
                throw new BackendUnavailable(`the model backend at ${url} answered HTTP ${res.status}`);
            const parsed = chatCompletionSchema.safeParse(res.json);
            if (!parsed.success) {
                throw new BackendUnavailable(
                    `the model backend at ${url} returned no OpenAI chat completion with usage counts (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}); the worker meters by them`,
                );
            }
            return parsed.data;
        },
    };
}
