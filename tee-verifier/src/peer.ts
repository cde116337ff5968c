// Talking to a verifier over HTTP: the JSON form of an attestation request (what workers send to
// /v1/attest and what verifiers send each other at /v1/cosign), and a peer client whose requests
// are signed by the asking verifier (peer-auth.ts).
import { ProofSignature } from '../../wrappers';
import { AttestationRequest, CosignRequest, Peer } from './attest';
import { NonceTicket, PeerAuth, authHeaders } from './peer-auth';

export function wireRequest(req: AttestationRequest) {
    return {
        provider: req.provider.toString(),
        signingKey: req.signingKey.toString('hex'),
        encryptionKey: req.encryptionKey.toString('hex'),
        nonce: req.nonce.toString(),
        evidence: {
            ...(req.evidence.kind === 'simulated'
                ? { kind: 'simulated', reportData: req.evidence.reportData.toString('hex') }
                : { kind: 'tdx', quote: req.evidence.quote.toString('hex') }),
            ...(req.evidence.gpu?.length
                ? { gpu: req.evidence.gpu.map((g) => ({ report: g.report.toString('hex'), certChain: g.certChain })) }
                : {}),
        },
    };
}

export function wireTicket(t: NonceTicket) {
    return { issuer: t.issuer.toString('hex'), issuedAt: t.issuedAt, expiresAt: t.expiresAt, signature: t.signature.toString('hex') };
}

export function wireCosignRequest(c: CosignRequest) {
    return { ...wireRequest(c.request), proof: c.proof.toBoc().toString('base64'), ticket: wireTicket(c.ticket) };
}

export function httpPeer(name: string, baseUrl: string, timeoutMs = 5000): Peer {
    return {
        name,
        async cosign(c: CosignRequest, authenticate: (body: Buffer) => PeerAuth): Promise<ProofSignature> {
            const body = Buffer.from(JSON.stringify(wireCosignRequest(c)));
            const res = await fetch(`${baseUrl.replace(/\/$/, '')}/v1/cosign`, {
                method: 'POST',
                headers: { 'content-type': 'application/json', ...authHeaders(authenticate(body)) },
                body,
                signal: AbortSignal.timeout(timeoutMs),
            });
            const answer = (await res.json()) as { publicKey: string; signature: string; error?: string; message?: string };
            if (!res.ok) throw new Error(`HTTP ${res.status} ${answer.error}: ${answer.message}`);
            return { publicKey: Buffer.from(answer.publicKey, 'hex'), signature: Buffer.from(answer.signature, 'hex') };
        },
    };
}
