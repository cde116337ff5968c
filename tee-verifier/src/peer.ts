// Talking to a verifier over HTTP: the JSON form of an attestation request (what workers send to
// /v1/attest and what verifiers send each other at /v1/cosign), and a peer client.
import { Cell } from '@ton/core';
import { ProofSignature } from '../../wrappers';
import { AttestationRequest, Peer } from './attest';

export function wireRequest(req: AttestationRequest) {
    return {
        provider: req.provider.toString(),
        signingKey: req.signingKey.toString('hex'),
        encryptionKey: req.encryptionKey.toString('hex'),
        nonce: req.nonce.toString(),
        evidence:
            req.evidence.kind === 'simulated'
                ? { kind: 'simulated', reportData: req.evidence.reportData.toString('hex') }
                : {
                      kind: 'tdx',
                      quote: req.evidence.quote.toString('hex'),
                      ...(req.evidence.gpuEvidenceDigest ? { gpuEvidenceDigest: req.evidence.gpuEvidenceDigest.toString('hex') } : {}),
                  },
    };
}

export function httpPeer(name: string, baseUrl: string, timeoutMs = 5000): Peer {
    return {
        name,
        async cosign(req: AttestationRequest, proof: Cell): Promise<ProofSignature> {
            const res = await fetch(`${baseUrl.replace(/\/$/, '')}/v1/cosign`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ ...wireRequest(req), proof: proof.toBoc().toString('base64') }),
                signal: AbortSignal.timeout(timeoutMs),
            });
            const body = (await res.json()) as { publicKey: string; signature: string; message?: string };
            if (!res.ok) throw new Error(`HTTP ${res.status}: ${body.message}`);
            return { publicKey: Buffer.from(body.publicKey, 'hex'), signature: Buffer.from(body.signature, 'hex') };
        },
    };
}
