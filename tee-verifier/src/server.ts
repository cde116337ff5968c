// The verifier's HTTP API (protocol/verifier-api.ts) as fastify plugins: JSON bodies kept as sent,
// the attestation routes, health and metrics, under the services' common conventions
// (protocol/http.ts). Nothing a client sends can stop the process. Bodies are JSON only (415
// otherwise) and at most BODY_LIMIT bytes (413, after reading what the client sends so that it
// hears the answer instead of a reset connection).
import Fastify, { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError, jsonApi, parseOrRefuse, prometheusText } from '../../protocol/http';
import {
    BODY_LIMIT,
    attestRequestSchema,
    cosignRequestSchema,
    encodeAttestAnswer,
    encodeSignature,
    nonceRequestSchema,
    addressSchema,
    sealingRequestSchema,
    encodeSealingShare,
} from '../../protocol/verifier-api';
import { z } from 'zod';
import { AttestationRefused, Attestor, PEER_CLOCK_SKEW_SECONDS } from './attest';
import { authenticatedPeer } from './peer-auth';
import { VerifierStore } from './store';
import { Sealer } from './sealing';

// Declared bodies up to this size are read and discarded before the 413; larger ones are cut off.
const DRAIN_LIMIT = 64 * 1024 * 1024;

// How each refusal of the Attestor is answered; any other is a 422.
const REFUSAL_STATUS: Record<string, number> = {
    'bad-nonce': 409,
    'peer-not-authorized': 403,
    'peers-unavailable': 503,
    'chain-unavailable': 503,
};

export interface VerifierRoutesOptions {
    attestor: Attestor;
    store: VerifierStore;
    devMode: boolean;
    sealer?: Sealer; // when the verifier holds a sealing secret (--sealing-secret-file)
}

interface Counters {
    nonces: number;
    accepted: number;
    refused: number;
    cosigned: number;
    sealingShares: number;
    badRequests: number;
}

declare module 'fastify' {
    interface FastifyRequest {
        rawBody?: Buffer;
    }
}

// application/json only, parsed and also kept as sent: a co-signing peer signs the exact bytes.
// A body declared larger than BODY_LIMIT is answered 413 once it has been read (up to DRAIN_LIMIT).
export const jsonBodies = fp<{ onTooLarge: () => void }>(async (app, o) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
        req.rawBody = body as Buffer;
        try {
            done(null, JSON.parse((body as Buffer).toString('utf8')));
        } catch {
            done(new ApiError('bad-request', 400, 'the body is not JSON'), undefined);
        }
    });
    app.addHook('onRequest', async (req, reply) => {
        const declared = Number(req.headers['content-length'] ?? 0);
        if (!(declared > BODY_LIMIT)) return;
        if (declared <= DRAIN_LIMIT) {
            await new Promise<void>((resolve) => {
                req.raw.on('end', resolve).on('error', resolve).on('close', resolve);
                req.raw.resume();
            });
        } else {
            reply.header('connection', 'close');
        }
        o.onTooLarge();
        return reply
            .code(413)
            .send({ error: 'body-too-large', message: `the body is ${declared} bytes; at most ${BODY_LIMIT} are accepted` });
    });
});

// POST /v1/nonce, /v1/attest, /v1/cosign, /v1/sealing-share; GET /v1/proofs/:provider.
export const attestationRoutes: FastifyPluginAsync<VerifierRoutesOptions & { counters: Counters }> = async (app, o) => {
    app.post('/v1/nonce', async (req) => {
        const { provider } = parseOrRefuse(nonceRequestSchema, req.body);
        o.counters.nonces += 1;
        return { nonce: o.attestor.issueNonce(provider).toString() };
    });

    app.post('/v1/attest', async (req) => {
        const r = await o.attestor.attest(parseOrRefuse(attestRequestSchema, req.body));
        o.counters.accepted += 1;
        return encodeAttestAnswer(r);
    });

    app.post('/v1/cosign', async (req) => {
        const peer = authenticatedPeer(req.headers, req.rawBody ?? Buffer.alloc(0), o.attestor.o.now(), PEER_CLOCK_SKEW_SECONDS);
        if ('problem' in peer) throw new AttestationRefused('peer-not-authorized', peer.problem);
        const signature = await o.attestor.cosign(parseOrRefuse(cosignRequestSchema, req.body), peer.publicKey);
        o.counters.cosigned += 1;
        return encodeSignature(signature);
    });

    app.post('/v1/sealing-share', async (req) => {
        if (!o.sealer)
            throw new ApiError(
                'sealing-not-offered',
                404,
                'this verifier holds no sealing secret (it was started without --sealing-secret-file)',
            );
        const share = await o.sealer.share(parseOrRefuse(sealingRequestSchema, req.body));
        o.counters.sealingShares += 1;
        return encodeSealingShare(share);
    });

    app.get('/v1/proofs/:provider', async (req) => {
        const { provider } = parseOrRefuse(z.object({ provider: addressSchema }), req.params);
        return { proofs: o.store.proofsFor(provider.toRawString()) };
    });
};

// GET /health and /metrics (Prometheus).
export const verifierStatusRoutes: FastifyPluginAsync<VerifierRoutesOptions & { counters: Counters }> = async (app, o) => {
    app.get('/health', async () => ({
        status: 'ok',
        publicKey: o.attestor.publicKey.toString('hex'),
        devMode: o.devMode,
        sealing: o.sealer !== undefined,
        outbox: o.store.counts(),
    }));

    app.get('/metrics', async (_req, reply) => {
        const c = o.counters;
        const outbox = o.store.counts();
        reply.type('text/plain; version=0.0.4');
        return prometheusText([
            { name: 'cocoon_verifier_nonces_total', help: 'Nonces issued.', type: 'counter', samples: [[{}, c.nonces]] },
            {
                name: 'cocoon_verifier_attestations_total',
                help: 'Attestation requests by outcome.',
                type: 'counter',
                samples: [
                    [{ result: 'accepted' }, c.accepted],
                    [{ result: 'refused' }, c.refused],
                    [{ result: 'bad_request' }, c.badRequests],
                ],
            },
            {
                name: 'cocoon_verifier_cosignatures_total',
                help: 'Proofs co-signed for peers.',
                type: 'counter',
                samples: [[{}, c.cosigned]],
            },
            {
                name: 'cocoon_verifier_sealing_shares_total',
                help: 'Sealing shares released to workers.',
                type: 'counter',
                samples: [[{}, c.sealingShares]],
            },
            {
                name: 'cocoon_verifier_outbox_proofs',
                help: 'Proofs in the outbox by status.',
                type: 'gauge',
                samples: ['pending', 'submitted', 'failed'].map((s) => [{ status: s }, outbox[s] ?? 0]),
            },
        ]);
    });
};

export interface ServerOptions extends VerifierRoutesOptions {
    rateLimitPerMinute: number;
    logger?: boolean | object;
}

export async function buildVerifierServer(o: ServerOptions): Promise<FastifyInstance> {
    const app = Fastify({ bodyLimit: BODY_LIMIT, logger: o.logger ?? false });
    const counters: Counters = { nonces: 0, accepted: 0, refused: 0, cosigned: 0, sealingShares: 0, badRequests: 0 };
    await app.register(jsonBodies, { onTooLarge: () => (counters.badRequests += 1) });
    await app.register(jsonApi, {
        service: 'verifier',
        rateLimitPerMinute: o.rateLimitPerMinute,
        refusal: (err) =>
            err instanceof AttestationRefused ? new ApiError(err.code, REFUSAL_STATUS[err.code] ?? 422, err.message) : undefined,
        onRefused: (_refusal, thrown) => (thrown instanceof AttestationRefused ? (counters.refused += 1) : (counters.badRequests += 1)),
    });
    const routes = { attestor: o.attestor, store: o.store, devMode: o.devMode, sealer: o.sealer, counters };
    await app.register(attestationRoutes, routes);
    await app.register(verifierStatusRoutes, routes);
    return app;
}
