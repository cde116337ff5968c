// The worker's HTTP API (protocol/worker-api.ts) as fastify plugins: the chat and identity routes,
// health and metrics, under the services' common conventions (protocol/http.ts). On loopback by
// default: a TLS-terminating proxy or the TEE's own network stack exposes it. Bodies are HPKE
// ciphertext; fastify logs method, URL and status only, never a body.
import Fastify, { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { Address, fromNano } from '@ton/core';
import { ApiError, MinuteCounter, jsonApi, parseOrRefuse, prometheusText } from '../../protocol/http';
import { requestEnvelopeSchema } from '../../protocol/worker-api';
import { FINALIZE_ABANDONED_VALUE, TOKEN_FIELDS } from '../../wrappers';
import { encodeAttestationRequest } from '../../protocol/verifier-api';
import { Worker } from './worker';

// A request envelope is at most ~2.8 MB of base64 ciphertext.
const BODY_LIMIT = 4 * 1024 * 1024;

// GET /v1/identity, GET /v1/evidence, POST /v1/sessions/:session/chat. Chat requests are limited
// per session once they are known to come from its client (the worker counts them: Worker
// perSessionPerMinute), so clients behind one proxy or NAT do not share a limit and a stranger
// cannot use up a session's. What a client address gets refused (an unknown session, another
// session's key, a ciphertext that does not open) is limited per address: each costs the worker
// work, an unknown session a chain read.
export const chatRoutes: FastifyPluginAsync<{ worker: Worker; refusedPerAddressPerMinute: number }> = async (
    app,
    { worker, refusedPerAddressPerMinute },
) => {
    app.get('/v1/identity', async () => worker.identity());
    // the attestation's request and evidence, as the verifier received it (protocol/verifier-api.ts)
    app.get('/v1/evidence', async () => encodeAttestationRequest(worker.evidence()));

    const refused = new MinuteCounter(100_000);
    app.post('/v1/sessions/:session/chat', { config: { rateLimit: false } }, async (req, reply) => {
        if (refused.count(req.ip) >= refusedPerAddressPerMinute) {
            throw new ApiError(
                'rate-limited',
                429,
                `at most ${refusedPerAddressPerMinute} refused chat requests a minute from one address`,
            );
        }
        reply.raw.once('finish', () => {
            if (STRANGERS_STATUSES.has(reply.statusCode)) refused.add(req.ip);
        });
        let session: Address;
        try {
            session = Address.parse((req.params as { session: string }).session);
        } catch {
            throw new ApiError('bad-request', 400, 'the URL does not name a session address');
        }
        const answer = await worker.handleChat(session, parseOrRefuse(requestEnvelopeSchema, req.body));
        if (answer.kind === 'whole') return answer.envelope;
        // A stream: one JSON line per encrypted frame, written as the worker produces them. A client
        // that goes away stops the writing, not the answer (the worker stores it for a retry).
        reply.hijack();
        reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
        try {
            for await (const frame of answer.frames) {
                if (reply.raw.destroyed) break;
                reply.raw.write(JSON.stringify(frame) + '\n');
            }
            reply.raw.end();
        } catch (e) {
            // (no HTTP status to change any more: the client sees a stream cut off, and retries)
            worker.o.log.error({ err: (e as Error).message }, 'a stream failed while it was written');
            reply.raw.destroy();
        }
    });
};

// Refusals a stranger can cause: a malformed request (400), another session's key (403), an
// unknown session (404).
const STRANGERS_STATUSES = new Set([400, 403, 404]);

// GET /health (503 while the worker's keys are not attested, or the attestation lapsed: a load
// balancer sends no client to it then) and /metrics (Prometheus).
export const workerStatusRoutes: FastifyPluginAsync<{ worker: Worker }> = async (app, { worker }) => {
    app.get('/health', async (_req, reply) => {
        const identity = worker.identity();
        const attested = identity.attestedUntil !== null && identity.attestedUntil > worker.o.chain.now();
        reply.status(attested ? 200 : 503);
        const s = worker.stats;
        const stats = { ...s, tokens: Object.fromEntries(TOKEN_FIELDS.map((f) => [f, s.tokens[f].toString()])) };
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
                help: 'Tokens metered, by class (cached tokens are part of prompt tokens, reasoning tokens part of completion tokens).',
                type: 'counter',
                samples: TOKEN_FIELDS.map((f) => [{ class: f.replace(/Tokens$/, '') }, s.tokens[f]] as [Record<string, string>, bigint]),
            },
            { name: 'cocoon_worker_claims_total', help: 'Claims confirmed on-chain.', type: 'counter', samples: [[{}, s.claims]] },
            {
                name: 'cocoon_worker_abandoned_finalizes_total',
                help: `FinalizeSession messages sent for sessions their clients left open (${fromNano(FINALIZE_ABANDONED_VALUE)} TON attached to each; what the chain does not spend comes back).`,
                type: 'counter',
                samples: [[{}, s.abandonedFinalizes]],
            },
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
    refusedPerAddressPerMinute?: number; // chat requests refused as a stranger's, per client address (default 120)
    // Proxies whose X-Forwarded-For names the client address (fastify's trustProxy: addresses or
    // CIDRs). Without it, behind a TLS proxy every client has the proxy's address.
    trustProxy?: string[];
    logger?: boolean | object;
}

export async function buildWorkerServer(worker: Worker, o: WorkerServerOptions = {}): Promise<FastifyInstance> {
    const app = Fastify({ bodyLimit: BODY_LIMIT, logger: o.logger ?? false, trustProxy: o.trustProxy?.length ? o.trustProxy : false });
    await app.register(jsonApi, { service: 'worker', rateLimitPerMinute: o.rateLimitPerMinute ?? 600 });
    await app.register(chatRoutes, { worker, refusedPerAddressPerMinute: o.refusedPerAddressPerMinute ?? 120 });
    await app.register(workerStatusRoutes, { worker });
    return app;
}
