// Random sequences around a misbehaving provider: its worker serves, stays silent, claims forged,
// stale, foreign and over-budget receipts and signs conflicting ones; clients, the other client,
// the stranger and the provider's own owner report real and fake equivocations; revocations
// (verifier-signed or not, of the current attestation or an older one, of the honest provider
// even) go to Providers and Sessions; governance changes parameters, verifiers and threshold
// through the timelock and unjails. The invariants of invariants.ts hold after every step: in
// particular every slash is exactly the one the model predicts, and only real misbehaviour pays
// anyone.
import { Action } from './actions';
import { printOutcomes } from './invariants';
import { checkProperty } from './run';
import { DISHONEST, Setup, makeSetup } from './world';

const session = { client: 0, prov: DISHONEST, nonce: 0 };

// Issue 11's attacks with a misbehaving provider, run first every time.
const ISSUE_11: Action[][] = [
    // 5. a revocation applies once, to the attestation it names: replayed after an unjail and a
    // fresh attestation it slashes nothing; a revocation of the fresh attestation slashes again
    [
        { kind: 'revoke', to: 'provider', s: session, by: 'stranger', names: 'current', signers: 'threshold' },
        { kind: 'unjail', prov: DISHONEST },
        { kind: 'wait', seconds: 1 }, // the worker attests again
        { kind: 'revoke', to: 'provider', s: session, by: 'stranger', names: 'replay', signers: 'threshold' },
        { kind: 'revoke', to: 'provider', s: session, by: 'client', names: 'current', signers: 'threshold' },
    ],
    // equivocation after a paid claim, reported by the client itself: slash, reward and
    // compensation up to what it paid; a jail does not shield the attestation from a revocation
    [
        { kind: 'open', s: session, by: 'client', deadline: 'day', ton: 20, model: 'listed' },
        { kind: 'serve', s: session, tokensIn: 2_000_000, tokensOut: 4_000_000 },
        { kind: 'claim', s: session, by: 'owner', receipt: 'latest' },
        { kind: 'equivocate', s: session, tokensOut: 1000, claimIt: false },
        { kind: 'report', s: session, by: 'client', pair: 'real' },
        { kind: 'report', s: session, by: 'stranger', pair: 'real' }, // refused: reported already
        { kind: 'revoke', to: 'provider', s: session, by: 'stranger', names: 'current', signers: 'threshold' },
        { kind: 'revoke', to: 'session', s: session, by: 'stranger', names: 'current', signers: 'threshold' },
    ],
    // a provider leaving with everything unbonding is still slashed: the slash walks the unbonding
    // queue, locked collateral is clamped, and the session still settles
    [
        { kind: 'open', s: session, by: 'client', deadline: 'hour', ton: 20, model: 'listed' },
        { kind: 'serve', s: session, tokensIn: 0, tokensOut: 1_000_000 },
        { kind: 'claim', s: session, by: 'owner', receipt: 'latest' },
        { kind: 'status', prov: DISHONEST, by: 'owner', msg: 'ExitProvider' },
        { kind: 'unstake', prov: DISHONEST, by: 'owner', percent: 60 },
        { kind: 'unstake', prov: DISHONEST, by: 'owner', percent: 100 },
        { kind: 'equivocate', s: session, tokensOut: 5, claimIt: true },
        { kind: 'report', s: session, by: 'stranger', pair: 'real' },
        { kind: 'withdraw', prov: DISHONEST, by: 'owner', whenDue: true },
        { kind: 'finalize', s: session, by: 'client' },
    ],
    // a silent provider: the session times out, the slash goes to the treasury only
    [
        { kind: 'open', s: session, by: 'client', deadline: 'instant', ton: 40, model: 'listed' },
        { kind: 'wait', seconds: 3602 },
        { kind: 'finalize', s: session, by: 'client' },
    ],
];

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
            { runs: 16, maxSteps: 40, openProviders: [1, 3, 0, 0], examples: ISSUE_11 },
        );
    }, 600_000);
});
