// Random sequences where strangers, clients and the other provider's owner send every message
// they are not entitled to: owners' messages to Providers, clients' messages to Sessions, the
// messages only a Session, Provider or Root may send (LockCollateral, ReleaseCollateral,
// SlashForEquivocation, RegistrationConfirmed, AttestationVerified, RevocationVerified, Unjail,
// SessionAccepted), governance's messages to Root, and Root's open doors (DepositTreasury with any
// amount, VerifyRevocation, ExecuteChange, plain transfers), between ordinary sessions and time
// passing. The invariants of invariants.ts hold after every step; every forged message fails.
import { Action } from './actions';
import { printOutcomes } from './invariants';
import { checkProperty } from './run';
import { DISHONEST, HONEST, Setup, makeSetup } from './world';

// Run first every time: issue 11's item 7 (a DepositTreasury of 0 at the minimum value must not
// cost Root anything) and forged slashes of the honest provider around a live session.
const ISSUE_11: Action[][] = [
    [
        { kind: 'deposit', by: 'stranger', amount: 0, ton: 0.05 },
        { kind: 'deposit', by: 'stranger', amount: 0, ton: 0.001 },
        { kind: 'open', s: { client: 0, prov: HONEST, nonce: 0 }, by: 'client', deadline: 'day', ton: 30, model: 'listed' },
        { kind: 'forgeProvider', prov: HONEST, by: 'stranger', msg: 'ReleaseCollateral', ton: 0.5 },
        { kind: 'forgeProvider', prov: HONEST, by: 'client0', msg: 'SlashForEquivocation', ton: 0.5 },
        { kind: 'forgeSession', s: { client: 0, prov: HONEST, nonce: 0 }, by: 'stranger', msg: 'SessionAccepted' },
        { kind: 'forgeProvider', prov: DISHONEST, by: 'owner1', msg: 'Unjail', ton: 0.05 },
        { kind: 'forgeRoot', by: 'stranger', msg: 'WithdrawTreasury' },
    ],
];

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
            { runs: 20, maxSteps: 40, examples: ISSUE_11 },
        );
    }, 600_000);
});
