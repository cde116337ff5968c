// Getting an attestation proof: ask a verifier for a nonce, bind it with the enclave keys and the
// provider into the quote's report data, send the evidence, receive the proof with its threshold
// of verifier signatures. Verifiers are tried in order until one answers.
import { Address } from '@ton/core';
import { z } from 'zod';
import { AttestationRequest, Evidence, ReportDataBinding } from '../../protocol/evidence';
import {
    ProofBundle,
    attestAnswerSchema,
    encodeAttestationRequest,
    errorAnswerSchema,
    nonceAnswerSchema,
} from '../../protocol/verifier-api';
import { EnclaveKeys } from './keys';

export class VerifierError extends Error {
    constructor(
        readonly verifier: string,
        readonly code: string,
        message: string,
    ) {
        super(`verifier ${verifier} refused: ${code}: ${message}`);
        this.name = 'VerifierError';
    }
}

// A proof, its signatures, and the verifier that gave it.
// A proof and the request (with its evidence) it was issued for.
export type VerifiedProof = ProofBundle & { verifier: string; request: AttestationRequest };

// POSTs `body` and parses the answer with `schema`; a refusal or a malformed answer is a VerifierError.
export async function postToVerifier<T extends z.ZodTypeAny>(
    verifier: string,
    path: string,
    body: unknown,
    schema: T,
    timeoutMs: number,
): Promise<z.output<T>> {
    let res: Response;
    try {
        res = await fetch(new URL(path, verifier), {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(timeoutMs),
        });
    } catch (e) {
        throw new VerifierError(verifier, 'unreachable', `${(e as Error).message}; check the --verifier URL and that the verifier runs`);
    }
    const json: unknown = await res.json().catch(() => ({}));
    if (!res.ok) {
        const e = errorAnswerSchema.safeParse(json);
        throw new VerifierError(verifier, e.success ? e.data.error : `http-${res.status}`, e.success ? e.data.message : res.statusText);
    }
    const answer = schema.safeParse(json);
    if (!answer.success) throw new VerifierError(verifier, 'malformed-answer', `${path} answered with something else than the API defines`);
    return answer.data;
}

export async function requestProof(
    verifier: string,
    provider: Address,
    keys: EnclaveKeys,
    modelHash: Buffer,
    evidenceFor: (binding: ReportDataBinding) => Promise<Evidence>,
    timeoutMs = 30_000,
): Promise<VerifiedProof> {
    const { nonce } = await postToVerifier(verifier, '/v1/nonce', { provider: provider.toString() }, nonceAnswerSchema, timeoutMs);
    const binding = { signingKey: keys.signing.publicKey, encryptionKey: keys.encryption.publicKey, provider, nonce, modelHash };
    const request = { ...binding, evidence: await evidenceFor(binding) };
    const { proof, signatures } = await postToVerifier(
        verifier,
        '/v1/attest',
        encodeAttestationRequest(request),
        attestAnswerSchema,
        timeoutMs,
    );
    return { proof, signatures, verifier, request };
}

// Tries each verifier in turn; the last refusal is thrown if none gives a proof.
export async function requestProofFromAny(
    verifiers: string[],
    provider: Address,
    keys: EnclaveKeys,
    modelHash: Buffer,
    evidenceFor: (binding: ReportDataBinding) => Promise<Evidence>,
): Promise<VerifiedProof> {
    if (verifiers.length === 0) throw new Error('no verifier configured: pass at least one --verifier URL');
    let last: unknown;
    for (const v of verifiers) {
        try {
            return await requestProof(v, provider, keys, modelHash, evidenceFor);
        } catch (e) {
            last = e;
        }
    }
    throw last;
}
