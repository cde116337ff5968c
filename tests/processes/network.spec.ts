// Every component as its own process on the devnet, talking only HTTP, started as an operator
// starts them (testkit/process-network.ts): the worker attests through the verifiers, who submit
// the proof from their wallets; the gateway's wallet opens a session and pays; a verifier and the
// worker are killed with kill -9 while requests are in flight and started again; the gateway's
// stop closes the session, the worker claims it, the restarted gateway finalizes it after the
// claim window (testkit/process-scenario.ts); and the devnet's ledger shows every nanoton minted
// still there or paid as fees.
import { readProvider, readSession } from '../../protocol/state';
import { SESSION_OPEN } from '../../wrappers';
import { ProcessNetwork, startProcessNetwork } from '../../testkit/process-network';
import { balanceIn, runProcessScenario } from '../../testkit/process-scenario';
import { tempDir } from '../tmp';

jest.setTimeout(600_000);

describe('every component as its own process on the devnet', () => {
    let net: ProcessNetwork | undefined;
    afterAll(async () => {
        await net?.stop();
    });

    it('runs a session through attestation, requests, kill -9 of a verifier and the worker, claims, close and finalize; TON conserved', async () => {
        net = await startProcessNetwork({ dir: tempDir('processes'), backendDelayMs: 400 });
        // the verifiers' proof is on-chain, submitted from their wallets
        expect((await readProvider(net.chain, net.provider))?.attestation).not.toBeNull();

        const o = await runProcessScenario(net);
        expect(o.before.answer).toContain('before the crash');
        expect(o.sessionsBefore).toHaveLength(1);
        // every request in flight when the worker died was answered (its retries carried its key:
        // served and charged once), and the worker did restart
        expect(o.workerStarts).toBe(2);
        for (const [i, a] of o.during.entries()) expect(a.answer).toContain(`during the crash ${i}`);
        expect(o.after.answer).toContain('after the restart');
        // the same session, the same attested keys: the restart cost nothing on-chain
        expect(o.sessionsAfter.map(String)).toEqual(o.sessionsBefore.map(String));
        expect(o.attestedKeyAfter).toBe(o.attestedKey);

        // closed with a claim within the budget, then finalized
        expect(o.closing).toBeDefined();
        expect(o.closing!.claimed).toBeGreaterThan(0n);
        expect(o.closing!.claimed).toBeLessThanOrEqual(o.closing!.budget);
        expect(o.finalized).toBe(true);
        expect((await readSession(net.chain, o.sessionsBefore[0]))?.status ?? 'gone').not.toBe(Number(SESSION_OPEN));

        // every nanoton the devnet minted is in an account or was paid as a fee
        const end = o.ledgerAtEnd;
        expect(end.imbalance).toBe(0n);
        expect(end.fees).toBeGreaterThan(o.ledgerAtStart.fees);
        // the GPU owner was paid (the claim, less the protocol's fee, with the surplus of the gas the
        // worker's wallet attached); the client's wallet paid at least what was claimed
        expect(balanceIn(end, net.owner)).toBeGreaterThan(balanceIn(o.ledgerAtStart, net.owner));
        expect(balanceIn(end, net.client)).toBeLessThan(balanceIn(o.ledgerAtStart, net.client) - o.closing!.claimed);
    });
});
