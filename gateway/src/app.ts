// The OpenAI-compatible gateway: any OpenAI client (the `openai` package, LangChain, curl) talks to
// it as to OpenAI's API; behind it, the SDK finds providers on-chain, opens and tops up sessions
// from the gateway's wallet, encrypts every request to the attested enclave, checks every
// receipt, and fails over to the next provider when one fails before the first byte of an answer.
//
//   POST /v1/chat/completions   OpenAI's chat request, whole or streamed (server-sent events)
//   GET  /v1/models             the models listed on-chain: providers, model hash, prices
//   POST /v1/completions        OpenAI's legacy text completion, whole or streamed, where the
//                               provider's backend offers it (else the backend's refusal, 400)
//
// Errors use OpenAI's shape, {error: {message, type, code, param}}, and statuses: 400 for the
// caller's mistakes (a model nobody offers included), 401 for a missing or unknown API key, 402
// when the session's budget cannot pay even after a top-up, 429 for rate limits, 502/503 for
// provider failures.
import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createHash, randomBytes, timingSafeEqual } from 'crypto';
import type { Logger } from 'pino';
import {
    ChatRequest,
    CompletionChunk,
    InferenceRequest,
    TextCompletionRequest,
    isTextCompletionRequest,
    textCompletionRequestSchema,
    ClientSession,
    CocoonClient,
    CocoonError,
    ProviderDirectory,
    chatRequestSchema,
    mapBounded,
    readProvider,
    requestTokenBounds,
} from '../../sdk';
import { STATUS_ACTIVE, bigIntToBuffer32 } from '../../wrappers';
import { SessionPool, SessionPolicy } from './sessions';
import { IdempotencyKeys, KeyConflict, KeyedRequest } from './idempotency';

/**
 * What a gateway works with: the SDK client (chain, wallet, Root), the session policy, the API keys allowed, a logger,
 * failover and settling settings, and where the sessions holding the wallet's budget are written down.
 */
export interface GatewayOptions {
    client: CocoonClient;
    policy: SessionPolicy;
    // SHA-256 hashes of the API keys that may call the gateway (none: no key needed, which the CLI
    // allows only on loopback). Keys themselves are never kept or logged.
    apiKeyHashes?: Buffer[];
    logger?: Logger;
    maxFailovers?: number; // other providers tried when one fails before answering (default 2)
    // where the sessions that may hold the wallet's budget are written down (see sessions.ts);
    // without it a gateway killed before it closed its sessions leaves their settling to you
    sessionRecordFile?: string;
    settleEveryMs?: number; // between passes that close and finalize sessions no longer used (default 30 s)
}

// Idempotency-Key entries (idempotency.ts): kept 10 minutes after their last use (as long as
// workers keep answers by default), at most 1,000 per API key.
const IDEMPOTENCY = { ttlMs: 10 * 60_000, perTenant: 1000 };

type OpenAiErrorType = 'invalid_request_error' | 'authentication_error' | 'insufficient_quota' | 'rate_limit_error' | 'api_error';

class OpenAiError extends Error {
    constructor(
        readonly status: number,
        readonly type: OpenAiErrorType,
        readonly code: string,
        message: string,
        readonly param: string | null = null,
        // (`x-should-retry: false` stops OpenAI's own clients from retrying an answer that a retry
        // without an Idempotency-Key could pay for twice)
        readonly headers: Record<string, string> = {},
    ) {
        super(message);
    }

    body() {
        return { error: { message: this.message, type: this.type, code: this.code, param: this.param } };
    }
}

/** The SHA-256 hash of an API key, as GatewayOptions.apiKeyHashes holds it. */
export function apiKeyHash(key: string): Buffer {
    return createHash('sha256').update(key, 'utf8').digest();
}

/**
 * The OpenAI-compatible gateway as a Fastify app (not listening yet): /v1/chat/completions, /v1/completions and
 * /v1/models, with API keys, Idempotency-Key, failover and OpenAI-shaped errors. Closing it closes its sessions; a
 * restarted gateway finalizes those it left (sessionRecordFile).
 */
export async function buildGateway(o: GatewayOptions): Promise<FastifyInstance> {
    const app = Fastify({
        bodyLimit: 4 * 1024 * 1024,
        // never log an API key or a prompt
        logger: o.logger ? { level: o.logger.level, redact: ['req.headers.authorization'] } : false,
    });
    const pool = new SessionPool(o.client, o.policy, { recordFile: o.sessionRecordFile, log: o.logger });
    const keys = new IdempotencyKeys(IDEMPOTENCY);
    const settling = setInterval(() => void pool.settle(), o.settleEveryMs ?? 30_000);
    settling.unref();
    app.addHook('onReady', async () => void pool.settle());
    app.addHook('onClose', async () => {
        clearInterval(settling);
        await pool.stop();
    });

    app.setErrorHandler((e: Error & { statusCode?: number }, _req, reply) => {
        const err =
            e instanceof OpenAiError
                ? e
                : e.statusCode && e.statusCode < 500
                  ? new OpenAiError(e.statusCode, 'invalid_request_error', 'invalid_request', e.message)
                  : new OpenAiError(500, 'api_error', 'internal_error', 'the gateway failed: see its log');
        if (err.status >= 500) o.logger?.error({ err: e.message }, 'request failed');
        reply.status(err.status).headers(err.headers).send(err.body());
    });
    app.setNotFoundHandler((req, reply) => {
        reply
            .status(404)
            .send(new OpenAiError(404, 'invalid_request_error', 'unknown_url', `Unknown request URL: ${req.method} ${req.url}`).body());
    });

    app.addHook('onRequest', async (req) => {
        if (!o.apiKeyHashes?.length) return;
        const key = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const hash = key ? apiKeyHash(key) : null;
        if (!hash || !o.apiKeyHashes.some((h) => timingSafeEqual(h, hash))) {
            throw new OpenAiError(
                401,
                'authentication_error',
                'invalid_api_key',
                'Incorrect or missing API key: pass one of the gateway\'s keys as "Authorization: Bearer KEY"',
            );
        }
    });

    app.get('/v1/models', async () => ({ object: 'list', data: await listModels(o.client) }));

    // Chat completions, and text completions (the legacy API) for providers whose backend offers
    // them: the same sessions, receipts, top-ups and failover.
    const answer = (kind: 'chat' | 'text') => async (req: FastifyRequest, reply: FastifyReply) => {
        const request = parseRequest(kind, req.body);
        const { model, ...rest } = request;
        const tried: string[] = [];
        let toppedUp = false;
        const key = idempotencyKeyOf(req);
        let keyed: KeyedRequest | undefined;
        try {
            keyed = key === undefined ? undefined : keys.begin(key, req.headers.authorization ?? '', req.body);
        } catch (e) {
            if (e instanceof KeyConflict) throw new OpenAiError(409, 'invalid_request_error', e.code, e.message, null, NO_RETRY);
            throw e;
        }
        // one id for every attempt of this request (a retry on the same session is then charged once)
        const requestId = keyed?.requestId ?? randomBytes(16).toString('base64url');
        try {
            for (let attempt = 0; ; attempt++) {
                const session =
                    keyed?.session ??
                    (await pool.session(model).catch((e) => {
                        throw toOpenAi(e, model, tried);
                    }));
                if (keyed) keyed.session = session;
                const budgetSeen = session.budget;
                try {
                    if (request.stream) return await stream(req, reply, session, rest, model, requestId);
                    const { completion } =
                        kind === 'chat'
                            ? await session.chat(rest as ChatRequest, { requestId })
                            : await session.complete(rest as TextCompletionRequest, { requestId });
                    return { ...completion, model };
                } catch (e) {
                    const maybeServed = e instanceof CocoonError && e.maybeServed;
                    if (keyed && maybeServed) keyed.maybeServed = true;
                    // The session's budget cannot hold the request's worst case: top it up once, and ask again.
                    if (e instanceof CocoonError && e.detail === 'budget-exhausted' && !toppedUp && !reply.raw.headersSent) {
                        toppedUp = true;
                        // (never for a request that a top-up could not pay either: each would move more of
                        // the wallet into escrow, for nothing)
                        if (worstCase(request, session) > session.budget - session.latest.amountDue + o.policy.topUpAmount) {
                            throw new OpenAiError(
                                402,
                                'insufficient_quota',
                                'budget_exhausted',
                                `${e.message}; the request's worst case is more than a top-up of the session could pay`,
                            );
                        }
                        await pool.topUp(session, budgetSeen).catch((t) => {
                            throw new OpenAiError(
                                402,
                                'insufficient_quota',
                                'top_up_failed',
                                `the session's budget is spent and the gateway's wallet could not top it up: ${(t as Error).message}`,
                            );
                        });
                        continue;
                    }
                    // Before the first byte of an answer, a provider's failure sends the request to the
                    // next one, unless an attempt may have been served (and may be charged): asked
                    // again elsewhere, it could be paid twice. That outcome is the caller's to decide.
                    if (reply.raw.headersSent || !isProviderFailure(e) || attempt >= (o.maxFailovers ?? 2)) {
                        const err = toOpenAi(e, model, tried);
                        // (an answer that may have been served is not for OpenAI's clients to retry as a new request)
                        if (maybeServed || keyed?.maybeServed) Object.assign(err.headers, NO_RETRY);
                        throw err;
                    }
                    pool.providerFailed(session, e);
                    if (maybeServed || keyed?.maybeServed) throw outcomeUnknown(e as CocoonError, key !== undefined);
                    if (keyed) keyed.session = undefined; // (every attempt under the key was proven unserved)
                    tried.push(`${session.provider.toString()}: ${(e as Error).message}`);
                    o.logger?.warn({ provider: session.provider.toString(), err: (e as Error).message }, 'provider failed: failing over');
                }
            }
        } finally {
            if (keyed) keys.done(keyed);
        }
    };
    app.post('/v1/chat/completions', answer('chat'));
    app.post('/v1/completions', answer('text'));
    return app;
}

// The answer as server-sent events: OpenAI's chunks, the usage chunk if asked for
// (stream_options.include_usage), then `data: [DONE]`. The first chunk is awaited before the
// response starts, so that a provider failing before it can be failed over.
async function stream(
    req: FastifyRequest,
    reply: FastifyReply,
    session: ClientSession,
    request: Omit<InferenceRequest, 'model'>,
    model: string,
    requestId?: string,
) {
    const { stream: _, ...rest } = request;
    const text = isTextCompletionRequest(request);
    const answer = text
        ? session.completeStream(rest as TextCompletionRequest, { requestId })
        : session.chatStream(rest as ChatRequest, { requestId });
    const chunks = answer[Symbol.asyncIterator]();
    const first = await chunks.next();
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (data: unknown) => reply.raw.write(`data: ${JSON.stringify(data)}\n\n`);
    let last: CompletionChunk | undefined;
    try {
        for (let next = first; !next.done; next = await chunks.next()) {
            last = { ...next.value, model };
            send(last);
        }
        const { usage } = await answer.result;
        if ((request.stream_options as { include_usage?: boolean } | undefined)?.include_usage) {
            const object = text ? 'text_completion' : 'chat.completion.chunk';
            send({ id: last?.id ?? '', object, created: last?.created ?? 0, model, choices: [], usage });
        }
        reply.raw.end('data: [DONE]\n\n');
    } catch (e) {
        // The response already started: OpenAI's streams report an error as an event.
        const err = toOpenAi(e, model);
        send(err.body());
        reply.raw.end();
        req.log.warn({ err: (e as Error).message }, 'stream failed after it started');
    }
}

// The least a request can hold back from a session's budget (the worker's reservation with a
// one-token answer): its prompt's worst case, a token per byte of its JSON, at the dearer prompt price.
function worstCase(request: InferenceRequest, session: ClientSession): bigint {
    const bounds = requestTokenBounds(request, Buffer.byteLength(JSON.stringify({ ...request, model: session.model })));
    const p = session.prices;
    const dearer = (a: bigint, b: bigint) => (a > b ? a : b);
    return (bounds.promptTokens * dearer(p.prompt, p.cachedPrompt) + dearer(p.completion, p.reasoning) + 999_999n) / 1_000_000n;
}

// The caller's Idempotency-Key (scoped to its API key by IdempotencyKeys).
function idempotencyKeyOf(req: FastifyRequest): string | undefined {
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || key === '') return undefined;
    if (key.length > 255)
        throw new OpenAiError(400, 'invalid_request_error', 'invalid_request', 'Idempotency-Key is longer than 255 characters');
    return key;
}

const NO_RETRY = { 'x-should-retry': 'false' };

// The provider failed after an attempt may have served the request: not asked elsewhere (it could
// be paid twice); the caller retries with the same Idempotency-Key to get the answer if it was
// served. OpenAI's clients are told not to retry on their own (they would retry without a key).
function outcomeUnknown(e: CocoonError, withKey: boolean): OpenAiError {
    return new OpenAiError(
        502,
        'api_error',
        'outcome_unknown',
        `the provider may have served this request but its answer did not arrive (${e.message}); it was not sent to ` +
            'another provider, which would charge it again. ' +
            (withKey
                ? 'Retry with the same Idempotency-Key to get the answer if it was served, charged once.'
                : 'Send an Idempotency-Key header with requests to make such retries safe.'),
        null,
        NO_RETRY,
    );
}

function parseRequest(kind: 'chat' | 'text', body: unknown): InferenceRequest {
    const parsed = (kind === 'chat' ? chatRequestSchema : textCompletionRequestSchema).safeParse(body);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    const param = issue.path.join('.') || null;
    throw new OpenAiError(400, 'invalid_request_error', 'invalid_request', `Invalid request: ${param ?? 'body'}: ${issue.message}`, param);
}

// Failures of the provider (its worker, its backend, its chain state), not of the request: worth
// another provider.
function isProviderFailure(e: unknown): boolean {
    if (!(e instanceof CocoonError)) return false;
    if (['worker-unreachable', 'bad-answer', 'stopped', 'not-attested', 'attestation-expired', 'attestation-mismatch'].includes(e.code))
        return true;
    return (
        e.code === 'worker-refused' &&
        [
            'backend-unavailable',
            'internal',
            'not-attested',
            'session-not-open',
            'deadline-passed',
            'previous-enclave-key',
            'undecryptable',
        ].includes(e.detail ?? '')
    );
}

// When the pool expects a provider back (its wait after a failure): Retry-After, in seconds.
function retryAfter(e: CocoonError): Record<string, string> {
    return e.retryAfterSeconds === undefined ? {} : { 'retry-after': String(e.retryAfterSeconds) };
}

function toOpenAi(e: unknown, model: string, tried: string[] = []): OpenAiError {
    if (e instanceof OpenAiError) return e;
    if (!(e instanceof CocoonError))
        return new OpenAiError(500, 'api_error', 'internal_error', `the gateway failed: ${(e as Error).message}`);
    const also = tried.length ? ` (also tried: ${tried.join('; ')})` : '';
    switch (e.code) {
        case 'bad-request':
        case 'rejected-by-model':
            return new OpenAiError(400, 'invalid_request_error', e.code, e.message);
        case 'provider-unavailable':
            return /no provider offers/.test(e.message)
                ? new OpenAiError(
                      400,
                      'invalid_request_error',
                      'model_not_found',
                      `The model \`${model}\` is not offered by any provider on this Cocoon network (GET /v1/models lists those that are)`,
                      'model',
                  )
                : new OpenAiError(503, 'api_error', 'no_provider', e.message + also, null, retryAfter(e));
        case 'budget-too-small':
        case 'insufficient-collateral':
            return new OpenAiError(402, 'insufficient_quota', e.code, e.message);
        case 'not-confirmed':
            return new OpenAiError(503, 'api_error', e.code, e.message);
        case 'worker-refused':
            if (e.detail === 'budget-exhausted') return new OpenAiError(402, 'insufficient_quota', 'budget_exhausted', e.message);
            if (e.detail === 'rate-limited' || e.detail === 'session-busy')
                return new OpenAiError(429, 'rate_limit_error', e.detail, e.message);
            if (e.detail === 'bad-request' || e.detail === 'body-too-large')
                return new OpenAiError(400, 'invalid_request_error', e.detail, e.message);
            return new OpenAiError(502, 'api_error', e.detail ?? 'provider_error', e.message + also);
        default:
            return new OpenAiError(502, 'api_error', e.code.replace(/-/g, '_'), e.message + also);
    }
}

// Every model an active, attested provider lists, with how many list it, its hash and the lowest
// price of each token class (nanotons per million tokens, as strings).
async function listModels(client: CocoonClient) {
    const directory = new ProviderDirectory(client.o.chain, client.o.root, { concurrency: client.o.readConcurrency });
    const now = client.o.chain.now();
    const providers = await mapBounded(await directory.providers(), client.o.readConcurrency ?? 8, (a) =>
        readProvider(client.o.chain, a).catch(() => null),
    );
    const models = new Map<string, { hashes: Set<string>; providers: number; prices: Record<string, bigint> }>();
    for (const p of providers) {
        if (!p || p.status !== Number(STATUS_ACTIVE) || !p.listing || !p.attestation || Number(p.attestation.validUntil) <= now) continue;
        for (const [, offer] of p.listing.models) {
            const m = models.get(offer.name) ?? { hashes: new Set(), providers: 0, prices: {} };
            m.providers += 1;
            m.hashes.add(bigIntToBuffer32(offer.modelHash).toString('hex'));
            for (const [k, v] of Object.entries(offer.prices)) {
                if (k === '$$type') continue;
                const price = v as bigint;
                if (m.prices[k] === undefined || price < m.prices[k]) m.prices[k] = price;
            }
            models.set(offer.name, m);
        }
    }
    return [...models].map(([id, m]) => ({
        id,
        object: 'model',
        created: 0,
        owned_by: 'cocoon',
        model_hashes: [...m.hashes],
        providers: m.providers,
        pricing: { unit: 'nanoton per million tokens', ...Object.fromEntries(Object.entries(m.prices).map(([k, v]) => [k, v.toString()])) },
    }));
}
