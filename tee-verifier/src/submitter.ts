// The outbox worker: submits queued proofs on-chain (SubmitAttestation to the Provider) and
// retries with exponential backoff until the Provider holds an attestation at least as new.
// Idempotent: a proof the Provider already holds (or a newer one) counts as submitted.
import { Address, Cell } from '@ton/core';
import { buildSignatureChain } from '../../wrappers';
import { VerifierStore } from './store';

export interface Chain {
    // Issued-at of the attestation the Provider holds, 0 if none.
    attestedIssuedAt(provider: Address): Promise<number>;
    submit(provider: Address, proof: Cell, signatures: Cell): Promise<void>;
}

export interface SubmitterOptions {
    store: VerifierStore;
    chain: Chain;
    now: () => number;
    maxAttempts: number;
    baseDelaySeconds: number;
}

export async function submitDueProofs(o: SubmitterOptions): Promise<{ submitted: number; retried: number; failed: number }> {
    const counts = { submitted: 0, retried: 0, failed: 0 };
    for (const p of o.store.dueProofs(o.now())) {
        const provider = Address.parseRaw(p.provider);
        try {
            if ((await o.chain.attestedIssuedAt(provider)) >= p.issuedAt) {
                o.store.markSubmitted(p.id);
                counts.submitted += 1;
                continue;
            }
            if (p.validUntil <= o.now()) throw new GiveUp('the proof expired before it could be submitted');
            const signatures = buildSignatureChain(
                p.signatures.map((s) => ({ publicKey: Buffer.from(s.publicKey, 'hex'), signature: Buffer.from(s.signature, 'hex') })),
            );
            await o.chain.submit(provider, Cell.fromBase64(p.proofBoc), signatures);
            if ((await o.chain.attestedIssuedAt(provider)) >= p.issuedAt) {
                o.store.markSubmitted(p.id);
                counts.submitted += 1;
            } else {
                throw new Error('the Provider does not hold the attestation yet');
            }
        } catch (e) {
            const giveUp = e instanceof GiveUp || p.attempts + 1 >= o.maxAttempts;
            const delay = o.baseDelaySeconds * 2 ** Math.min(p.attempts, 10);
            o.store.markRetry(p.id, (e as Error).message, o.now() + delay, giveUp);
            if (giveUp) counts.failed += 1;
            else counts.retried += 1;
        }
    }
    return counts;
}

class GiveUp extends Error {}
