// Every component as its own process on the devnet, talking only HTTP, started as an operator
// starts them (testkit/process-network.ts): the worker attests through the verifiers, who submit
// the proof from their wallets; the gateway's wallet opens a session and pays; a verifier and the
// worker are killed with kill -9 while requests are in flight and started again; the gateway's
// stop closes the session, the worker claims it, the restarted gateway finalizes it after the
// claim window; and the devnet's ledger shows every nanoton minted still there or paid as fees.
import { readFileSync } from 'fs';
import { join } from 'path';
import { Address } from '@ton/core';
import { waitFor } from '../../protocol/chain';
import { readProvider, readSession } from '../../protocol/state';
import { EXAMPLE_PARAMS, SESSION_CLOSING, SESSION_FINALIZED, SESSION_OPEN } from '../../wrappers';
import { DEMO_MODEL } from '../../testkit/local-network';
import { DevnetLedger, ProcessNetwork, startProcessNetwork } from '../../testkit/process-network';
import { tempDir } from '../tmp';

jest.setTimeout(600_000);

interface Completion {
    choices?: { message: { content: string } }[];
    error?: { message: string; type: string };
}

describe('every component as its own process on the devnet', () => {
    let net: ProcessNetwork | undefined;
    afterAll(async () => {
        await net?.stop();
    });

    const chat = async (content: string, idempotencyKey?: string) => {
        const res = await fetch(`${net!.gatewayUrl}/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
            body: JSON.stringify({ model: DEMO_MODEL, messages: [{ role: 'user', content }], max_tokens: 64 }),
        });
        return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Completion };
    };
    // A careful client: an Idempotency-Key on every request, the same key again after an answer
    // that may have been lost (502 outcome_unknown), after Retry-After when no provider answers (503).
    const chatUntilAnswered = async (content: string, key: string) => {
        const seen: number[] = [];
        for (const until = Date.now() + 90_000; Date.now() < until;) {
            const r = await chat(content, key);
            seen.push(r.status);
            if (r.status === 200) return { ...r, seen };
            if (r.status !== 502 && r.status !== 503) throw new Error(`${content}: ${r.status} ${JSON.stringify(r.body)}`);
            await new Promise((resolve) => setTimeout(resolve, 1000 * Number(r.retryAfter ?? 1)));
        }
        throw new Error(`${content}: no answer in 90 s (${seen.join(', ')})`);
    };
    const sessionsOfGateway = (): Address[] => {
        const record = JSON.parse(readFileSync(join(net!.dir, 'gateway.sessions.json'), 'utf8')) as { sessions: string[] };
        return record.sessions.map((a) => Address.parse(a));
    };

    it('runs a session through attestation, requests, kill -9 of a verifier and the worker, claims, close and finalize; TON conserved', async () => {
        net = await startProcessNetwork({ dir: tempDir('processes'), backendDelayMs: 400 });
        const { chain, provider } = net;

        // the verifiers' proof is on-chain, submitted from their wallets
        const attested = await readProvider(chain, provider);
        expect(attested?.attestation).not.toBeNull();
        const attestedKey = attested!.attestation!.signingKey;
        const balanceOf = (l: DevnetLedger, a: Address) => l.accounts.find((x) => Address.parse(x.address).equals(a))?.balance ?? 0n;
        const atStart = await net.ledger();

        const first = await chat('before the crash');
        expect(first.status).toBe(200);
        expect(first.body.choices![0].message.content).toContain('before the crash');
        const [session] = sessionsOfGateway();
        expect((await readSession(chain, session))?.status).toBe(Number(SESSION_OPEN));

        // requests in the model when one verifier and the worker die; both come back, and every
        // request is answered (its retries carry its key: served and charged once)
        const burst = Promise.all([0, 1, 2, 3].map((i) => chatUntilAnswered(`during the crash ${i}`, `crash-${i}`)));
        await new Promise((r) => setTimeout(r, 150));
        await net.verifiers[0].crash();
        await net.worker.crash();
        await net.verifiers[0].start();
        await net.worker.start();
        const answered = await burst;
        expect(net.worker.starts).toBe(2);
        for (const [i, r] of answered.entries()) expect(r.body.choices![0].message.content).toContain(`during the crash ${i}`);
        const after = await chatUntilAnswered('after the restart', 'after');
        expect(after.body.choices![0].message.content).toContain('after the restart');
        // the same session, the same attested keys: the restart cost nothing on-chain
        expect(sessionsOfGateway().map((a) => a.toString())).toEqual([session.toString()]);
        expect((await readProvider(chain, provider))?.attestation?.signingKey).toBe(attestedKey);

        // the gateway stops: it closes its session; the worker claims what was served
        expect(await net.gateway.stop()).toBe(0);
        const closing = await waitFor(
            async () => {
                const s = await readSession(chain, session);
                return s && s.status === Number(SESSION_CLOSING) && s.claimed > 0n ? s : undefined;
            },
            90_000,
            500,
        );
        expect(closing).toBeDefined();
        expect(closing!.claimed).toBeLessThanOrEqual(closing!.budget);

        // after the claim window, the gateway started again finalizes what it left
        await net.advance(Number(EXAMPLE_PARAMS.closeGracePeriod) + 60);
        await net.gateway.start();
        const finalized = await waitFor(
            async () => {
                const s = await readSession(chain, session);
                return s === null || s.status === Number(SESSION_FINALIZED) ? 'finalized' : undefined;
            },
            90_000,
            500,
        );
        expect(finalized).toBe('finalized');

        // every nanoton the devnet minted is in an account or was paid as a fee
        const ledger = await net.ledger();
        expect(ledger.imbalance).toBe(0n);
        expect(ledger.fees).toBeGreaterThan(0n);
        expect(ledger.accounts.length).toBeGreaterThan(8);
        // the GPU owner was paid (the claim, less the protocol's fee, with the surplus of the gas the
        // worker's wallet attached); the client's wallet paid for it
        const earned = balanceOf(ledger, net.owner) - balanceOf(atStart, net.owner);
        expect(earned).toBeGreaterThan(0n);
        expect(balanceOf(ledger, net.client)).toBeLessThan(balanceOf(atStart, net.client) - closing!.claimed);
    });
});
