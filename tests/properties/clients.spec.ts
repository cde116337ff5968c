// Random sessions between clients and providers: clients open with any deadline and budget, top
// up, close at once or never, finalize whenever; the honest provider's worker acknowledges and
// claims at the last moment it may; the dishonest one stays silent, overcharges, forges and
// equivocates; owners stake, unstake, pause, exit, relist and re-attest; time jumps by seconds to
// weeks. The invariants of invariants.ts hold after every step.
import { Action } from './actions';
import { printOutcomes } from './invariants';
import { checkProperty } from './run';
import { DISHONEST, GHOST, HONEST, Setup, makeSetup } from './world';

const honest = { client: 0, prov: HONEST, nonce: 0 };
const dishonest = { client: 0, prov: DISHONEST, nonce: 0 };
const ghost = { client: 1, prov: GHOST, nonce: 1 };

// Issue 11's attacks on sessions, run first every time.
const ISSUE_11: Action[][] = [
    // 1. instant-timeout farming: a deadline one second away and a collateral of most of the
    // honest provider's free stake, then silence; the client finalizes as early as it can
    [
        { kind: 'open', s: honest, by: 'client', deadline: 'instant', ton: 900, model: 'listed' },
        { kind: 'wait', seconds: 2 },
        { kind: 'finalize', s: honest, by: 'client' }, // refused: the claim window is still open
        { kind: 'wait', seconds: 3600 },
        { kind: 'finalize', s: honest, by: 'client' }, // acknowledged in time: not a timeout
    ],
    // 2. no finalize cuts the claim window: the provider claims at the deadline + 2 s
    [
        { kind: 'open', s: dishonest, by: 'client', deadline: 'minute', ton: 10, model: 'listed' },
        { kind: 'serve', s: dishonest, tokensIn: 1000, tokensOut: 100_000 },
        { kind: 'wait', seconds: 61 },
        { kind: 'finalize', s: dishonest, by: 'client' }, // refused
        { kind: 'wait', seconds: 1 },
        { kind: 'claim', s: dishonest, by: 'owner', receipt: 'latest' },
        { kind: 'wait', seconds: 3600 },
        { kind: 'finalize', s: dishonest, by: 'stranger' },
    ],
    // 4. an escrow the Provider never answers comes back after OPENING_TIMEOUT
    [
        { kind: 'open', s: ghost, by: 'client', deadline: 'day', ton: 20, model: 'listed' },
        { kind: 'finalize', s: ghost, by: 'client' }, // refused: too early
        { kind: 'wait', seconds: 600 },
        { kind: 'finalize', s: ghost, by: 'stranger' },
    ],
    // a session closed at once, and an acceptance that arrives after the client took its escrow
    // back: the honest provider's collateral is unlocked both times
    [
        { kind: 'open', s: honest, by: 'client', deadline: 'max', ton: 50, model: 'listed' },
        { kind: 'close', s: honest, by: 'client' },
        { kind: 'openLate', s: { client: 1, prov: HONEST, nonce: 0 }, ton: 30, delay: 600, cancel: true },
        { kind: 'wait', seconds: 86_400 },
        { kind: 'finalize', s: honest, by: 'otherClient' },
    ],
    // a top-up of a finalized session too small to pay for its own bounce: the network leaves the
    // remainder in the account (fast-check found it; the invariant counts such remainders)
    [
        { kind: 'open', s: { client: 1, prov: 2, nonce: 1 }, by: 'client', deadline: 'now', ton: 2, model: 'listed' },
        { kind: 'wait', seconds: 600 },
        { kind: 'finalize', s: { live: 0 }, by: 'client' },
        { kind: 'topUp', s: { client: 1, prov: 2, nonce: 1 }, by: 'client', ton: 0.001 },
        { kind: 'wait', seconds: 600 },
    ],
];

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
            { runs: 16, maxSteps: 40, examples: ISSUE_11 },
        );
    }, 600_000);
});
