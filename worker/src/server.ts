// The worker's HTTP API (protocol/worker-api.ts) as fastify plugins: the chat and identity routes,
// health and metrics, under the services' common conventions (protocol/http.ts). On loopback by
// default: a TLS-terminating proxy or the TEE's own network stack exposes it. Bodies are HPKE
// ciphertext; fastify logs method, URL and status only, never a body.
import Fastify, { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Address } from '@ton/core';
import { ApiError, jsonApi, parseOrRefuse, prometheusText } from '../../protocol/http';
import { requestEnvelopeSchema } from '../../protocol/worker-api';
import { encodeAttestationRequest } from '../../protocol/verifier-api';
import { Worker } from './worker';

// A request envelope is at most ~2.8 MB of base64 ciphertext.
const BODY_LIMIT = 4 * 1024 * 1024;

// GET /v1/identity, GET /v1/evidence, POST /v1/sessions/:session/chat. Chat requests are
// rate-limited per session (the URL names it; a request for a session not the client's is refused
// before it reaches the backend), so clients behind one proxy or NAT do not share one limit.
export const chatRoutes: FastifyPluginAsync<{ worker: Worker; perSessionPerMinute: number }> = async (
    app,
    { worker, perSessionPerMinute },
) => {
    app.get('/v1/identity', async () => worker.identity());
    // the attestation's request and evidence, as the verifier received it (protocol/verifier-api.ts)
    app.get('/v1/evidence', async () => encodeAttestationRequest(worker.evidence()));

    const chatLimit = {
        max: perSessionPerMinute,
        timeWindow: '1 minute',
        keyGenerator: (req: FastifyRequest) => `session:${(req.params as { session?: string }).session ?? ''}`,
    };
    app.post('/v1/sessions/:session/chat', { config: { rateLimit: chatLimit } }, async (req) => {
        let session: Address;
        try {
            session = Address.parse((req.params as { session: string }).session);
        } catch {
            throw new ApiError('bad-request', 400, 'the URL does not name a session address');
        }
        return worker.handleChat(session, parseOrRefuse(requestEnvelopeSchema, req.body));
    });
};

// GET /health (503 while the worker's keys are not attested, or the attestation lapsed: a load
// balancer sends no client to it then) and /metrics (Prometheus).
export const workerStatusRoutes: FastifyPluginAsync<{ worker: Worker }> = async (app, { worker }) => {
    app.get('/health', async (_req, reply) => {
        const identity = worker.identity();
        const attested = identity.attestedUntil !== null && identity.attestedUntil > worker.o.chain.now();
        reply.status(attested ? 200 : 503);
        const s = worker.stats;
        const stats = { ...s, tokensIn: s.tokensIn.toString(), tokensOut: s.tokensOut.toString() };
        return { status: attested ? 'ok' : 'not-attested', ...identity, stats };
    });

    app.get('/metrics', async (_req, reply) => {
        const s = worker.stats;
        reply.type('text/plain; version=0.0.4');
        return prometheusText([
            {
                name: 'cocoon_worker_requests_total',
                help: 'Chat requests by outcome.',
                type: 'counter',
                samples: [
                    [{ result: 'served' }, s.requests],
                    [{ result: 'refused' }, s.refused],
                ],
            },
            {
                name: 'cocoon_worker_tokens_total',
                help: 'Tokens metered.',
                type: 'counter',
                samples: [
                    [{ direction: 'in' }, s.tokensIn],
                    [{ direction: 'out' }, s.tokensOut],
                ],
            },
            { name: 'cocoon_worker_claims_total', help: 'Claims confirmed on-chain.', type: 'counter', samples: [[{}, s.claims]] },
            {
                name: 'cocoon_worker_attested_until',
                help: 'Unix time the attestation expires (0 if none).',
                type: 'gauge',
                samples: [[{}, worker.identity().attestedUntil ?? 0]],
            },
        ]);
    });
};

export interface WorkerServerOptions {
    rateLimitPerMinute?: number; // per client address, for every route but chat (default 600)
    perSessionPerMinute?: number; // chat requests per session (default 6000)
    // Proxies whose X-Forwarded-For names the client address (fastify's trustProxy: addresses or
    // CIDRs). Without it, behind a TLS proxy every client has the proxy's address.
    trustProxy?: string[];
    logger?: boolean | object;
}

export async function buildWorkerServer(worker: Worker, o: WorkerServerOptions = {}): Promise<FastifyInstance> {
    const app = Fastify({ bodyLimit: BODY_LIMIT, logger: o.logger ?? false, trustProxy: o.trustProxy?.length ? o.trustProxy : false });
    await app.register(jsonApi, { service: 'worker', rateLimitPerMinute: o.rateLimitPerMinute ?? 600 });
    await app.register(chatRoutes, { worker, perSessionPerMinute: o.perSessionPerMinute ?? 6000 });
    await app.register(workerStatusRoutes, { worker });
    return app;
}
