// A peer verifier over HTTP (POST /v1/cosign, protocol/verifier-api.ts), whose requests are
// signed by the asking verifier (peer-auth.ts).
import { ProofSignature } from '../../wrappers';
import { CosignRequest, encodeCosignRequest, errorAnswerSchema, signatureSchema } from '../../protocol/verifier-api';
import { Peer } from './attest';
import { PeerAuth, authHeaders } from './peer-auth';

export function httpPeer(name: string, baseUrl: string, timeoutMs = 5000): Peer {
    return {
        name,
        async cosign(c: CosignRequest, authenticate: (body: Buffer) => PeerAuth): Promise<ProofSignature> {
            const body = Buffer.from(JSON.stringify(encodeCosignRequest(c)));
            const res = await fetch(`${baseUrl.replace(/\/$/, '')}/v1/cosign`, {
                method: 'POST',
                headers: { 'content-type': 'application/json', ...authHeaders(authenticate(body)) },
                body,
                signal: AbortSignal.timeout(timeoutMs),
            });
            const answer: unknown = await res.json();
            if (!res.ok) {
                const e = errorAnswerSchema.safeParse(answer);
                throw new Error(`HTTP ${res.status} ${e.success ? `${e.data.error}: ${e.data.message}` : 'with no error message'}`);
            }
            const signature = signatureSchema.safeParse(answer);
            if (!signature.success) throw new Error('the peer answered without a well-formed signature');
            return signature.data;
        },
    };
}
