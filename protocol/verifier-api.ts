// The TEE verifier's HTTP API, defined once for the verifier (which validates requests with these
// schemas), the worker (which encodes requests and validates answers with them), peer verifiers
// and the submitAttestation script. Every schema parses JSON into the types the code works with
// (Address, Buffer, Cell, bigint); every encoder is the inverse.
//
//   POST /v1/nonce              {provider}                      -> {nonce}
//   POST /v1/attest             attestation request             -> {id, proof, signatures}
//   POST /v1/cosign             the same, with proof and ticket -> {publicKey, signature}
//                               (verifiers only: the body is signed, see PEER_HEADERS)
//   GET  /v1/proofs/:provider   -> {proofs}: what this verifier signed for the provider
//   POST /v1/sealing-share      sealing request                 -> {publicKey, senderKey, enc, ciphertext, signature}
//                               (verifiers started with a sealing secret: tee-verifier/src/sealing.ts)
//   GET  /health, GET /metrics
// Every refusal is JSON {error, message} with a 4xx/5xx status. Bodies are application/json of at
// most BODY_LIMIT bytes.
import { Address, Cell } from '@ton/core';
import { z } from 'zod';
import { ProofSignature } from '../wrappers';
import { AttestationRequest, Evidence, MAX_GPU_REPORT_BYTES, MAX_GPUS, MAX_QUOTE_BYTES, SealingBinding } from './evidence';

// A TDX quote and eight GPUs' evidence, in hex, fit.
export const BODY_LIMIT = 128 * 1024;

// The headers a verifier signs a /v1/cosign request with (its key, the time, the signature).
export const PEER_HEADERS = { key: 'x-cocoon-peer-key', time: 'x-cocoon-peer-time', signature: 'x-cocoon-peer-signature' } as const;

// The issuing verifier's signature over a nonce it issued (tee-verifier/src/peer-auth.ts).
export interface NonceTicket {
    issuer: Buffer; // ed25519 public key of the verifier that issued the nonce
    issuedAt: number; // unix seconds
    expiresAt: number;
    signature: Buffer;
}

// What a verifier sends a peer to co-sign: the worker's request, the proof it signed, and the
// ticket proving it issued the nonce.
export interface CosignRequest {
    request: AttestationRequest;
    proof: Cell;
    ticket: NonceTicket;
}

// A proof and its verifier signatures, as /v1/attest returns it (and submitAttestation reads it).
export interface ProofBundle {
    proof: Cell;
    signatures: ProofSignature[];
}

// ---- field schemas ----

const hexBytes = (n: number) =>
    z
        .string()
        .regex(new RegExp(`^(0x)?[0-9a-fA-F]{${2 * n}}$`), `must be ${n} bytes in hex`)
        .transform((s) => Buffer.from(s.replace(/^0x/, ''), 'hex'));

const hexBlob = (maxBytes: number) =>
    z
        .string()
        .min(2)
        .max(2 * maxBytes + 2)
        .regex(/^(0x)?([0-9a-fA-F]{2})+$/, 'must be hex')
        .transform((s) => Buffer.from(s.replace(/^0x/, ''), 'hex'));

export const addressSchema = z.string().transform((s, ctx) => {
    try {
        return Address.parse(s);
    } catch {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'not a TON address' });
        return z.NEVER;
    }
});

const nonceSchema = z
    .string()
    .regex(/^[0-9]{1,20}$/, 'must be a decimal integer')
    .transform((s) => BigInt(s))
    .refine((n) => n < 1n << 64n, 'must be below 2^64');

const bocSchema = z.string().transform((s, ctx) => {
    try {
        return Cell.fromBase64(s);
    } catch {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'not a base64 BoC' });
        return z.NEVER;
    }
});

const unixSeconds = z.number().int().nonnegative();

const gpuEvidenceSchema = z
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
    .optional();

// GPU evidence goes with either kind: a development machine may have a confidential GPU and no TDX.
const evidenceSchema = z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('tdx'), quote: hexBlob(MAX_QUOTE_BYTES), gpu: gpuEvidenceSchema }),
    z.object({ kind: z.literal('simulated'), reportData: hexBytes(64), gpu: gpuEvidenceSchema }),
]);

export const signatureSchema = z
    .object({ publicKey: hexBytes(32), signature: hexBytes(64) })
    .transform((s): ProofSignature => ({ publicKey: s.publicKey, signature: s.signature }));

// ---- requests ----

export const nonceRequestSchema = z.object({ provider: addressSchema });

export const attestRequestSchema = z.object({
    provider: addressSchema,
    signingKey: hexBytes(32),
    encryptionKey: hexBytes(32),
    nonce: nonceSchema,
    modelHash: hexBytes(32).refine((b) => !b.equals(Buffer.alloc(32)), 'the zero model hash names no model'),
    evidence: evidenceSchema,
}) satisfies z.ZodType<AttestationRequest, z.ZodTypeDef, unknown>;

export const cosignRequestSchema = attestRequestSchema
    .extend({
        proof: bocSchema,
        ticket: z.object({ issuer: hexBytes(32), issuedAt: unixSeconds, expiresAt: unixSeconds, signature: hexBytes(64) }),
    })
    .transform(({ proof, ticket, ...request }): CosignRequest => ({ request, proof, ticket }));

/** A worker's request for a verifier's share of its sealing key (the evidence binds sealingReportData). */
export interface SealingRequest extends SealingBinding {
    evidence: Evidence; // the TD's quote (report_data: sealingReportData) and its GPUs' evidence (nonce: sealingGpuNonce)
}

export const sealingRequestSchema = z.object({
    provider: addressSchema,
    globalId: z
        .number()
        .int()
        .min(-(2 ** 31))
        .max(2 ** 31 - 1),
    modelHash: hexBytes(32),
    replyKey: hexBytes(32),
    evidence: evidenceSchema,
}) satisfies z.ZodType<SealingRequest, z.ZodTypeDef, unknown>;

export function encodeSealingRequest(r: SealingRequest) {
    return {
        provider: r.provider.toString(),
        globalId: r.globalId,
        modelHash: r.modelHash.toString('hex'),
        replyKey: r.replyKey.toString('hex'),
        evidence: encodeEvidence(r.evidence),
    };
}

/** A verifier's sealing share, HPKE-sealed to the request's reply key and signed by the verifier's key. */
export interface SealingShare {
    publicKey: Buffer; // the verifier's ed25519 key (Root's verifier set)
    senderKey: Buffer; // the HPKE sender's X25519 key (fresh for each share: the signature authenticates it)
    enc: Buffer; // HPKE encapsulated key
    ciphertext: Buffer; // the 32-byte share, sealed
    signature: Buffer; // over sealingShareSigned(report data, enc, ciphertext)
}

export const sealingShareSchema = z.object({
    publicKey: hexBytes(32),
    senderKey: hexBytes(32),
    enc: hexBytes(32),
    ciphertext: hexBytes(48),
    signature: hexBytes(64),
}) satisfies z.ZodType<SealingShare, z.ZodTypeDef, unknown>;

export function encodeSealingShare(s: SealingShare) {
    return {
        publicKey: s.publicKey.toString('hex'),
        senderKey: s.senderKey.toString('hex'),
        enc: s.enc.toString('hex'),
        ciphertext: s.ciphertext.toString('hex'),
        signature: s.signature.toString('hex'),
    };
}

// ---- answers ----

export const nonceAnswerSchema = z.object({ nonce: nonceSchema });

export const proofBundleSchema = z.object({ proof: bocSchema, signatures: z.array(signatureSchema).min(1).max(16) });

export const attestAnswerSchema = proofBundleSchema.extend({ id: z.number().int() });

export const errorAnswerSchema = z.object({ error: z.string(), message: z.string() });

// ---- encoders: the JSON each schema above parses ----

function encodeEvidence(e: Evidence) {
    return {
        ...(e.kind === 'simulated'
            ? { kind: 'simulated', reportData: e.reportData.toString('hex') }
            : { kind: 'tdx', quote: e.quote.toString('hex') }),
        ...(e.gpu?.length ? { gpu: e.gpu.map((g) => ({ report: g.report.toString('hex'), certChain: g.certChain })) } : {}),
    };
}

export function encodeAttestationRequest(req: AttestationRequest) {
    return {
        provider: req.provider.toString(),
        signingKey: req.signingKey.toString('hex'),
        encryptionKey: req.encryptionKey.toString('hex'),
        nonce: req.nonce.toString(),
        modelHash: req.modelHash.toString('hex'),
        evidence: encodeEvidence(req.evidence),
    };
}

export function encodeTicket(t: NonceTicket) {
    return { issuer: t.issuer.toString('hex'), issuedAt: t.issuedAt, expiresAt: t.expiresAt, signature: t.signature.toString('hex') };
}

export function encodeCosignRequest(c: CosignRequest) {
    return { ...encodeAttestationRequest(c.request), proof: c.proof.toBoc().toString('base64'), ticket: encodeTicket(c.ticket) };
}

export function encodeSignature(s: ProofSignature) {
    return { publicKey: s.publicKey.toString('hex'), signature: s.signature.toString('hex') };
}

export function encodeAttestAnswer(r: ProofBundle & { id: number }) {
    return { id: r.id, proof: r.proof.toBoc().toString('base64'), signatures: r.signatures.map(encodeSignature) };
}
