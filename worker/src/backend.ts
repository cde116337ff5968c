// The model behind the worker: any OpenAI-compatible chat-completions server (vLLM, llama.cpp's
// server, SGLang...) reached over HTTP. The worker meters by the `usage` counts it returns.
import { ChatCompletion, ChatRequest, chatCompletionSchema } from '../../protocol/worker-api';

export class BackendUnavailable extends Error {
    constructor(message: string) {
        super(message);
        this.name = 'BackendUnavailable';
    }
}

export interface Backend {
    complete(request: ChatRequest): Promise<ChatCompletion>;
}

export function openAiBackend(baseUrl: string, o: { apiKey?: string; timeoutMs?: number } = {}): Backend {
    const url = new URL('v1/chat/completions', baseUrl.endsWith('/') ? baseUrl : baseUrl + '/');
    return {
        async complete(request) {
            let res: Response;
            try {
                res = await fetch(url, {
                    method: 'POST',
                    headers: { 'content-type': 'application/json', ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) },
                    body: JSON.stringify({ ...request, stream: false }),
                    signal: AbortSignal.timeout(o.timeoutMs ?? 120_000),
                });
            } catch (e) {
                throw new BackendUnavailable(`the model backend at ${url} did not answer: ${(e as Error).message}`);
            }
            // Never echo the backend's body: it may contain the request's plaintext.
            if (!res.ok) throw new BackendUnavailable(`the model backend at ${url} answered HTTP ${res.status}`);
            const parsed = chatCompletionSchema.safeParse(await res.json().catch(() => null));
            if (!parsed.success) {
                throw new BackendUnavailable(
                    `the model backend at ${url} returned no OpenAI chat completion with usage counts (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}); the worker meters by them`,
                );
            }
            return parsed.data;
        },
    };
}
