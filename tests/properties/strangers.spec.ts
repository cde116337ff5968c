// Random sequences where strangers, clients and the other provider's owner send every message
// they are not entitled to: owners' messages to Providers, clients' messages to Sessions, the
// messages only a Session, Provider or Root may send (LockCollateral, ReleaseCollateral,
// SlashForEquivocation, RegistrationConfirmed, AttestationVerified, RevocationVerified, Unjail,
// SessionAccepted), governance's messages to Root, and Root's open doors (DepositTreasury with any
// amount, VerifyRevocation, ExecuteChange, plain transfers), between ordinary sessions and time
// passing. The invariants of invariants.ts hold after every step; every forged message fails.
import { printOutcomes } from './invariants';
import { checkProperty } from './run';
import { Setup, makeSetup } from './world';

let setup: Setup;
beforeAll(async () => {
    setup = await makeSetup();
});
afterAll(() => printOutcomes('strangers.spec.ts'));

describe('strangers sending every message', () => {
    it('never gain, never move anyone else’s funds, and leave every obligation covered', async () => {
        await checkProperty(
            () => setup,
            {
                open: 5,
                topUp: 2,
                close: 2,
                finalize: 3,
                serve: 2,
                claim: 2,
                report: 1,
                revoke: 1,
                wait: 3,
                stake: 2,
                register: 1,
                unstake: 1,
                withdraw: 1,
                status: 1,
                listing: 1,
                attest: 1,
                forgeProvider: 4,
                forgeSession: 3,
                forgeRoot: 3,
                deposit: 2,
                askRoot: 2,
                execute: 1,
                withdrawTreasury: 1,
            },
            { runs: 20, maxSteps: 40 },
        );
    }, 600_000);
});
