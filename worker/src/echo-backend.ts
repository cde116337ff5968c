// The built-in backend for the demo and tests: an OpenAI-compatible chat-completions server that
// needs no model download. It is NOT a language model: it answers by quoting the last user
// message back, and counts "tokens" as words and punctuation marks.
import Fastify, { FastifyInstance } from 'fastify';
import { chatRequestSchema } from '../../protocol/worker-api';

export const ECHO_PREFIX = '[built-in test backend, not a language model] You said:';
// Its context window: a longer prompt is refused with HTTP 400, as a real server refuses one.
export const ECHO_CONTEXT_TOKENS = 32_768;

export function countTokens(text: string): number {
    return (text.match(/[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu) ?? []).length;
}

// Listens on host:port, or on a unix socket when `socket` names one (then `url` is unix:PATH).
export async function startEchoBackend(
    o: { host?: string; port?: number; socket?: string; delayMs?: number } = {},
): Promise<{ url: string; app: FastifyInstance; setDelay(ms: number): void }> {
    const app = Fastify({ logger: false, bodyLimit: 4 * 1024 * 1024 });
    let served = 0;
    let delayMs = o.delayMs ?? 0; // a slow model, for tests of clients that give up
    const setDelay = (ms: number) => {
        delayMs = ms;
    };
    app.post('/v1/chat/completions', async (req, reply) => {
        const body = chatRequestSchema.passthrough().safeParse(req.body);
        if (!body.success) return reply.status(400).send({ error: { message: body.error.issues[0]?.message ?? 'bad request' } });
        const { model, messages, max_tokens } = body.data;
        const prompt = messages.reduce((n, m) => n + countTokens(m.content) + 4, 0);
        if (prompt > ECHO_CONTEXT_TOKENS) {
            return reply.status(400).send({
                error: {
                    message: `This model's maximum context length is ${ECHO_CONTEXT_TOKENS} tokens. However, your messages resulted in ${prompt} tokens.`,
                    type: 'invalid_request_error',
                    code: 'context_length_exceeded',
                },
            });
        }
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        const lastUser = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
        // Keep at most max_tokens tokens of the answer, as a real server would.
        const words = `${ECHO_PREFIX} ${lastUser}`.split(/(\s+)/);
        let text = '';
        let finish = 'stop';
        for (const w of words) {
            if (countTokens(text + w) > (max_tokens ?? Infinity)) {
                finish = 'length';
                break;
            }
            text += w;
        }
        served += 1;
        const completion = countTokens(text);
        return {
            id: `echo-${served}`,
            object: 'chat.completion',
            created: Math.floor(Date.now() / 1000),
            model,
            choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: finish }],
            usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
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
