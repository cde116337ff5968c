// The worker's HTTP API (sdk/wire.ts), on loopback by default: a TLS-terminating proxy or the
// TEE's own network stack exposes it. Bodies are HPKE ciphertext; fastify logs method, URL and
// status only, never a body.
import Fastify, { FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { Address } from '@ton/core';
import { requestEnvelopeSchema } from '../../sdk/wire';
import { Worker, WorkerRefusal } from './worker';

export async function buildWorkerServer(
    worker: Worker,
    o: { rateLimitPerMinute?: number; logger?: boolean | object } = {},
): Promise<FastifyInstance> {
    const app = Fastify({ bodyLimit: 4 * 1024 * 1024, logger: o.logger ?? false });
    await app.register(rateLimit, {
        max: o.rateLimitPerMinute ?? 600,
        timeWindow: '1 minute',
        errorResponseBuilder: (_req, ctx) => ({ statusCode: 429, error: 'rate-limited', message: `at most ${ctx.max} requests a minute` }),
    });
    app.setErrorHandler((err, _req, reply) => {
        if (err instanceof WorkerRefusal) return reply.status(err.status).send({ error: err.code, message: err.message });
        const status = (err as { statusCode?: number }).statusCode;
        if (status && status >= 400 && status < 500) {
            return reply.status(status).send({ error: status === 429 ? 'rate-limited' : 'bad-request', message: (err as Error).message });
        }
        app.log.error({ err: (err as Error).message }, 'unexpected error');
        return reply.status(500).send({ error: 'internal', message: 'the worker failed; see its log' });
    });
    app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: 'not-found', message: `no route ${req.method} ${req.url}` }));

    app.get('/v1/identity', async () => worker.identity());

    app.post('/v1/sessions/:session/chat', async (req) => {
        let session: Address;
        try {
            session = Address.parse((req.params as { session: string }).session);
        } catch {
            throw new WorkerRefusal('bad-request', 400, 'the URL does not name a session address');
        }
        const body = requestEnvelopeSchema.safeParse(req.body);
        if (!body.success) {
            throw new WorkerRefusal(
                'bad-request',
                400,
                body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
            );
        }
        return worker.handleChat(session, body.data);
    });

    // 503 while the worker's keys are not attested (or the attestation lapsed): a load balancer
    // sends no client to it then.
    app.get('/health', async (_req, reply) => {
        const identity = worker.identity();
        const attested = identity.attestedUntil !== null && identity.attestedUntil > worker.o.chain.now();
        reply.status(attested ? 200 : 503);
        return { status: attested ? 'ok' : 'not-attested', ...identity, stats: statsJson(worker) };
    });

    app.get('/metrics', async (_req, reply) => {
        const s = worker.stats;
        reply.type('text/plain; version=0.0.4');
        return [
            '# HELP cocoon_worker_requests_total Chat requests by outcome.',
            '# TYPE cocoon_worker_requests_total counter',
            `cocoon_worker_requests_total{result="served"} ${s.requests}`,
            `cocoon_worker_requests_total{result="refused"} ${s.refused}`,
            '# HELP cocoon_worker_tokens_total Tokens metered.',
            '# TYPE cocoon_worker_tokens_total counter',
            `cocoon_worker_tokens_total{direction="in"} ${s.tokensIn}`,
            `cocoon_worker_tokens_total{direction="out"} ${s.tokensOut}`,
            '# HELP cocoon_worker_claims_total Claims confirmed on-chain.',
            '# TYPE cocoon_worker_claims_total counter',
            `cocoon_worker_claims_total ${s.claims}`,
            '# HELP cocoon_worker_attested_until Unix time the attestation expires (0 if none).',
            '# TYPE cocoon_worker_attested_until gauge',
            `cocoon_worker_attested_until ${worker.identity().attestedUntil ?? 0}`,
            '',
        ].join('\n');
    });
    return app;
}

function statsJson(worker: Worker) {
    const s = worker.stats;
    return {
        requests: s.requests,
        refused: s.refused,
        tokensIn: s.tokensIn.toString(),
        tokensOut: s.tokensOut.toString(),
        claims: s.claims,
    };
}
