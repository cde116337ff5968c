// Random sequences around a misbehaving provider: its worker serves, stays silent, claims forged,
// stale, foreign and over-budget receipts and signs conflicting ones; clients, the other client,
// the stranger and the provider's own owner report real and fake equivocations; revocations
// (verifier-signed or not, of the current attestation or an older one, of the honest provider
// even) go to Providers and Sessions; governance changes parameters, verifiers and threshold
// through the timelock and unjails. The invariants of invariants.ts hold after every step: in
// particular every slash is exactly the one the model predicts, and only real misbehaviour pays
// anyone.
import { printOutcomes } from './invariants';
import { checkProperty } from './run';
import { Setup, makeSetup } from './world';

let setup: Setup;
beforeAll(async () => {
    setup = await makeSetup();
});
afterAll(() => printOutcomes('misbehaviour.spec.ts'));

describe('a misbehaving provider, reporters and governance', () => {
    it('slash exactly what the model predicts and pay only real reporters and harmed clients', async () => {
        await checkProperty(
            () => setup,
            {
                open: 12,
                openLate: 2,
                topUp: 1,
                close: 1,
                finalize: 3,
                serve: 3,
                claim: 5,
                equivocate: 4,
                report: 5,
                revoke: 2,
                wait: 4,
                attest: 2,
                status: 1,
                unstake: 1,
                withdraw: 1,
                propose: 2,
                execute: 2,
                cancel: 1,
                unjail: 2,
                withdrawTreasury: 1,
            },
            { runs: 16, maxSteps: 40, openProviders: [1, 3, 0, 0] },
        );
    }, 600_000);
});
