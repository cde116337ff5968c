// Getting an attestation proof: ask a verifier for a nonce, bind it with the enclave keys and the
// provider into the quote's report data, send the evidence, receive the proof with its threshold
// of verifier signatures. Verifiers are tried in order until one answers.
import { Address, Cell } from '@ton/core';
import { ProofSignature } from '../../wrappers';
import { expectedReportData } from '../../tee-verifier/src/measurement';
import type { Evidence } from '../../tee-verifier/src/attest';
import { wireRequest } from '../../tee-verifier/src/peer';
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

export interface ProofBundle {
    proof: Cell;
    signatures: ProofSignature[];
    verifier: string;
}

async function post(verifier: string, path: string, body: unknown, timeoutMs: number): Promise<unknown> {
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
    const json = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
    if (!res.ok) throw new VerifierError(verifier, json.error ?? `http-${res.status}`, json.message ?? res.statusText);
    return json;
}

export async function requestProof(
    verifier: string,
    provider: Address,
    keys: EnclaveKeys,
    evidenceFor: (reportData: Buffer) => Evidence,
    timeoutMs = 30_000,
): Promise<ProofBundle> {
    const { nonce } = (await post(verifier, '/v1/nonce', { provider: provider.toString() }, timeoutMs)) as { nonce: string };
    const reportData = expectedReportData({
        signingKey: keys.signing.publicKey,
        encryptionKey: keys.encryption.publicKey,
        provider,
        nonce: BigInt(nonce),
    });
    const request = {
        provider,
        signingKey: keys.signing.publicKey,
        encryptionKey: keys.encryption.publicKey,
        nonce: BigInt(nonce),
        evidence: evidenceFor(reportData),
    };
    const r = (await post(verifier, '/v1/attest', wireRequest(request), timeoutMs)) as {
        proof: string;
        signatures: { publicKey: string; signature: string }[];
    };
    return {
        proof: Cell.fromBase64(r.proof),
        signatures: r.signatures.map((s) => ({ publicKey: Buffer.from(s.publicKey, 'hex'), signature: Buffer.from(s.signature, 'hex') })),
        verifier,
    };
}

// Tries each verifier in turn; the last refusal is thrown if none gives a proof.
export async function requestProofFromAny(
    verifiers: string[],
    provider: Address,
    keys: EnclaveKeys,
    evidenceFor: (reportData: Buffer) => Evidence,
): Promise<ProofBundle> {
    if (verifiers.length === 0) throw new Error('no verifier configured: pass at least one --verifier URL');
    let last: unknown;
    for (const v of verifiers) {
        try {
            return await requestProof(v, provider, keys, evidenceFor);
        } catch (e) {
            last = e;
        }
    }
    throw last;
}
