// The demo's two scenarios as tests (testkit/scenarios.ts on testkit/local-network.ts): what each party ends with,
// and that every nanoton is accounted for.
import { toNano } from '@ton/core';
import { CLAIM_VALUE, EXAMPLE_PARAMS, SESSION_FINALIZED } from '../../wrappers';
import { servedScenario, timeoutScenario } from '../../testkit/scenarios';
import { LocalNetwork, startLocalNetwork } from '../../testkit/local-network';

const silent = { step: () => undefined, detail: () => undefined };

describe('end to end on the sandbox', () => {
    let net: LocalNetwork;
    afterEach(async () => net?.stop());

    it('a session is served, claimed twice, closed and settled; TON is conserved', async () => {
        net = await startLocalNetwork();
        const ownerBefore = await net.gpuOwner.getBalance();
        const r = await servedScenario(net, silent);

        expect(r.claims.map((c) => c.seqno)).toEqual([2, 4]);
        expect(r.settled.claimed).toBe(r.latest.amountDue); // the final receipt was paid in full
        expect(r.settled.timedOut).toBe(false);
        expect(r.latest.seqno).toBe(4);
        const fee = (r.settled.claimed * EXAMPLE_PARAMS.protocolFeeBps) / 10_000n;
        expect(r.fee).toBe(fee);
        // the GPU owner received what was claimed less the fee, plus the claims' unspent value
        const ownerGain = (await net.gpuOwner.getBalance()) - ownerBefore;
        expect(ownerGain).toBeGreaterThan(r.settled.claimed - fee);
        expect(ownerGain).toBeLessThan(r.settled.claimed - fee + 2n * CLAIM_VALUE);
        expect(await r.session.refresh()).toMatchObject({ status: Number(SESSION_FINALIZED) });
        expect(r.settled.refund).toBe(r.session.budget - r.settled.claimed);
        expect(net.ledger.untracked()).toEqual([]);
        expect(await net.ledger.imbalance()).toBe(0n);
    });

    it('a provider that stops answering is slashed and its client refunded', async () => {
        net = await startLocalNetwork();
        const clientBefore = await net.client.getBalance();
        const r = await timeoutScenario(net, silent);

        expect(r.refusal.code).toBe('worker-unreachable');
        expect(r.settled).toMatchObject({ timedOut: true, claimed: 0n });
        const collateral = (r.session.budget * EXAMPLE_PARAMS.collateralBps) / 10_000n;
        expect(r.slashed).toBe((collateral * EXAMPLE_PARAMS.timeoutSlashBps) / 10_000n);
        expect(r.treasuryGain).toBe(r.slashed); // nobody profits from a timeout
        // the client got its whole budget back: it lost only network fees
        const clientChange = (await net.client.getBalance()) - clientBefore;
        expect(clientChange).toBeGreaterThan(-toNano('0.2'));
        expect(clientChange).toBeLessThan(0n);
        expect(net.ledger.untracked()).toEqual([]);
        expect(await net.ledger.imbalance()).toBe(0n);
    });
});
