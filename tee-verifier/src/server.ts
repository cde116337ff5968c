// The verifier's HTTP API (fastify, zod schemas). Every malformed or refused request gets a JSON
// error {error, message} with a 4xx status; nothing a client sends can stop the process. Bodies are
// JSON only (415 otherwise) and at most BODY_LIMIT bytes (413, after reading what the client sends
// so that it hears the answer instead of a reset connection).
import Fastify, { FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { Address, Cell } from '@ton/core';
import { z } from 'zod';
import { AttestationRefused, AttestationRequest, Attestor, PEER_CLOCK_SKEW_SECONDS } from './attest';
import { MAX_GPU_REPORT_BYTES } from './nvidia';
import { authenticatedPeer } from './peer-auth';
import { MAX_QUOTE_BYTES } from './quote';
import { VerifierStore } from './store';

// A TDX quote and eight GPUs' evidence, in hex, fit.
export const BODY_LIMIT = 128 * 1024;
// Declared bodies up to this size are read and discarded before the 413; larger ones are cut off.
const DRAIN_LIMIT = 64 * 1024 * 1024;
const MAX_GPUS = 8;

const hexBytes = (n: number) =>
    z
        .string()
        .regex(new RegExp(`^(0x)?[0-9a-fA-F]{${2 * n}}$`), `must be ${n} bytes in hex`)
        .transform((s) => Buffer.from(s.replace(/^0x/, ''), 'hex'));
const address = z.string().transform((s, ctx) => {
    try {
        return Address.parse(s);
    } catch {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'not a TON address' });
        return z.NEVER;
    }
});
const nonce = z
    .string()
    .regex(/^[0-9]{1,20}$/, 'must be a decimal integer')
    .transform((s) => BigInt(s))
    .refine((n) => n < 1n << 64n, 'must be below 2^64');
const hexBlob = (maxBytes: number) =>
    z
        .string()
        .min(2)
        .max(2 * maxBytes + 2)
        .regex(/^(0x)?([0-9a-fA-F]{2})+$/, 'must be hex')
        .transform((s) => Buffer.from(s.replace(/^0x/, ''), 'hex'));
const evidence = z.discriminatedUnion('kind', [
    z.object({
        kind: z.literal('tdx'),
        quote: hexBlob(MAX_QUOTE_BYTES),
        gpu: z
            .array(
                z.object({
                    report: hexBlob(MAX_GPU_REPORT_BYTES),
                    certChain: z
                        .string()
                        .min(1)
                        .max(16 * 1024),
                }),
            )
            .max(MAX_GPUS)
            .optional(),
    }),
    z.object({ kind: z.literal('simulated'), reportData: hexBytes(64) }),
]);
const attestBody = z.object({ provider: address, signingKey: hexBytes(32), encryptionKey: hexBytes(32), nonce, evidence });
const unixSeconds = z.number().int().nonnegative();
const cosignBody = attestBody.extend({
    proof: z.string().transform((s, ctx) => {
        try {
            return Cell.fromBase64(s);
        } catch {
            ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'not a base64 BoC' });
            return z.NEVER;
        }
    }),
    ticket: z.object({ issuer: hexBytes(32), issuedAt: unixSeconds, expiresAt: unixSeconds, signature: hexBytes(64) }),
});

class BadRequest extends Error {}

function parse<T extends z.ZodTypeAny>(schema: T, body: unknown): z.output<T> {
    const r = schema.safeParse(body);
    if (!r.success) throw new BadRequest(r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    return r.data;
}

const STATUS: Record<string, number> = { 'bad-nonce': 409, 'peer-not-authorized': 403, 'peers-unavailable': 503, 'chain-unavailable': 503 };
const ERROR_NAMES: Record<number, string> = { 413: 'body-too-large', 415: 'unsupported-media-type', 429: 'rate-limited' };

export interface ServerOptions {
    attestor: Attestor;
    store: VerifierStore;
    devMode: boolean;
    rateLimitPerMinute: number;
    logger?: boolean | object;
}

export async function buildServer(o: ServerOptions): Promise<FastifyInstance> {
    const app = Fastify({ bodyLimit: BODY_LIMIT, logger: o.logger ?? false });
    // JSON only, kept as sent: a co-signing peer signs the exact bytes.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
        (req as unknown as { rawBody: Buffer }).rawBody = body as Buffer;
        try {
            done(null, JSON.parse((body as Buffer).toString('utf8')));
        } catch {
            done(new BadRequest('the body is not JSON'), undefined);
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
        metrics.badRequests += 1;
        return reply
            .code(413)
            .send({ error: 'body-too-large', message: `the body is ${declared} bytes; at most ${BODY_LIMIT} are accepted` });
    });
    const metrics = { nonces: 0, accepted: 0, refused: 0, cosigned: 0, badRequests: 0 };
    await app.register(rateLimit, {
        max: o.rateLimitPerMinute,
        timeWindow: '1 minute',
        errorResponseBuilder: (_req, ctx) => ({ statusCode: 429, error: 'rate-limited', message: `at most ${ctx.max} requests a minute` }),
    });

    app.setErrorHandler((err, _req, reply) => {
        if (err instanceof BadRequest) {
            metrics.badRequests += 1;
            return reply.status(400).send({ error: 'bad-request', message: err.message });
        }
        if (err instanceof AttestationRefused) {
            metrics.refused += 1;
            return reply.status(STATUS[err.code] ?? 422).send({ error: err.code, message: err.message });
        }
        const status = (err as { statusCode?: number }).statusCode;
        if (status && status >= 400 && status < 500) {
            metrics.badRequests += 1;
            const message =
                status === 415 ? `the body must be application/json, not ${_req.headers['content-type']}` : (err as Error).message;
            return reply.status(status).send({ error: ERROR_NAMES[status] ?? 'bad-request', message });
        }
        app.log.error({ err }, 'unexpected error');
        return reply.status(500).send({ error: 'internal', message: 'the verifier failed; see its log' });
    });
    app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: 'not-found', message: `no route ${req.method} ${req.url}` }));

    app.post('/v1/nonce', async (req) => {
        const { provider } = parse(z.object({ provider: address }), req.body);
        metrics.nonces += 1;
        return { nonce: o.attestor.issueNonce(provider).toString() };
    });

    app.post('/v1/attest', async (req) => {
        const body: AttestationRequest = parse(attestBody, req.body);
        const r = await o.attestor.attest(body);
        metrics.accepted += 1;
        return {
            id: r.id,
            proof: r.proof.toBoc().toString('base64'),
            signatures: r.signatures.map((s) => ({ publicKey: s.publicKey.toString('hex'), signature: s.signature.toString('hex') })),
        };
    });

    app.post('/v1/cosign', async (req) => {
        const raw = (req as unknown as { rawBody?: Buffer }).rawBody ?? Buffer.alloc(0);
        const peer = authenticatedPeer(req.headers, raw, o.attestor.o.now(), PEER_CLOCK_SKEW_SECONDS);
        if ('problem' in peer) throw new AttestationRefused('peer-not-authorized', peer.problem);
        const { proof, ticket, ...request } = parse(cosignBody, req.body);
        const s = await o.attestor.cosign({ request, proof, ticket }, peer.publicKey);
        metrics.cosigned += 1;
        return { publicKey: s.publicKey.toString('hex'), signature: s.signature.toString('hex') };
    });

    app.get('/v1/proofs/:provider', async (req) => {
        const { provider } = parse(z.object({ provider: address }), req.params);
        return { proofs: o.store.proofsFor(provider.toRawString()) };
    });

    app.get('/health', async () => ({
        status: 'ok',
        publicKey: o.attestor.publicKey.toString('hex'),
        devMode: o.devMode,
        outbox: o.store.counts(),
    }));

    app.get('/metrics', async (_req, reply) => {
        const outbox = o.store.counts();
        const lines = [
            '# HELP cocoon_verifier_nonces_total Nonces issued.',
            '# TYPE cocoon_verifier_nonces_total counter',
            `cocoon_verifier_nonces_total ${metrics.nonces}`,
            '# HELP cocoon_verifier_attestations_total Attestation requests by outcome.',
            '# TYPE cocoon_verifier_attestations_total counter',
            `cocoon_verifier_attestations_total{result="accepted"} ${metrics.accepted}`,
            `cocoon_verifier_attestations_total{result="refused"} ${metrics.refused}`,
            `cocoon_verifier_attestations_total{result="bad_request"} ${metrics.badRequests}`,
            '# HELP cocoon_verifier_cosignatures_total Proofs co-signed for peers.',
            '# TYPE cocoon_verifier_cosignatures_total counter',
            `cocoon_verifier_cosignatures_total ${metrics.cosigned}`,
            '# HELP cocoon_verifier_outbox_proofs Proofs in the outbox by status.',
            '# TYPE cocoon_verifier_outbox_proofs gauge',
            ...['pending', 'submitted', 'failed'].map((s) => `cocoon_verifier_outbox_proofs{status="${s}"} ${outbox[s] ?? 0}`),
        ];
        reply.type('text/plain; version=0.0.4');
        return lines.join('\n') + '\n';
    });

    return app;
}
