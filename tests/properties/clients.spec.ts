// Random sessions between clients and providers: clients open with any deadline and budget, top
// up, close at once or never, finalize whenever; the honest provider's worker acknowledges and
// claims at the last moment it may; the dishonest one stays silent, overcharges, forges and
// equivocates; owners stake, unstake, pause, exit, relist and re-attest; time jumps by seconds to
// weeks. The invariants of invariants.ts hold after every step.
import { printOutcomes } from './invariants';
import { checkProperty } from './run';
import { Setup, makeSetup } from './world';

let setup: Setup;
beforeAll(async () => {
    setup = await makeSetup();
});
afterAll(() => printOutcomes('clients.spec.ts'));

describe('sessions under any client and provider behaviour', () => {
    it('conserve TON, cover every obligation, never slash the honest provider, never overpay a client', async () => {
        await checkProperty(
            () => setup,
            {
                open: 10,
                openLate: 2,
                topUp: 1,
                close: 2,
                finalize: 4,
                serve: 3,
                claim: 4,
                equivocate: 1,
                report: 1,
                revoke: 1,
                wait: 6,
                stake: 1,
                register: 1,
                unstake: 1,
                withdraw: 1,
                status: 1,
                listing: 1,
                attest: 2,
            },
            { runs: 20, maxSteps: 40 },
        );
    }, 600_000);
});
