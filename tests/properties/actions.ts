// Every message of the protocol, from every party, as shrinkable fast-check values. What each one
// does on the chain, and what the model expects of it, is in perform.ts.
import fc from 'fast-check';
import { OPENING_TIMEOUT, ProtocolParams } from '../../wrappers';
import { DAY } from '../../testkit';
import { DISHONEST, HONEST, Party, RevocationNames } from './world';

const WEEK = 7 * DAY;

// ---------------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------------

// A Session: client (0, 1), provider (0 honest, 1 dishonest, 2 ghost, 3 nobody), nonce (0, 1).
export interface SlotRef {
    client: number;
    prov: number;
    nonce: number;
}
// A session to act on: a fixed one, or the n-th of those in play (opening, open or closing), so
// that random sequences mostly meet live escrows.
export type Target = SlotRef | { live: number };
// Who sends a client's message, relative to the session: its client or someone not entitled.
export type Role = 'client' | 'otherClient' | 'stranger' | 'owner1';
// Who sends a provider owner's message: its owner or someone not entitled.
export type OwnerRole = 'owner' | 'stranger' | 'client0';
export type Deadline = 'past' | 'now' | 'instant' | 'minute' | 'hour' | 'day' | 'max' | 'overMax' | 'uint32Max';
export type ClaimVariant =
    | 'latest' // the latest receipt the enclave signed (a zero acknowledgement if none yet)
    | 'forgedKey'
    | 'amountMismatch'
    | 'overBudget'
    | 'stale'
    | 'otherSession'
    | 'wrongOpenedAt'
    | 'wrongNetwork';
export type PairVariant = 'real' | 'identical' | 'differentSeqno' | 'forgedKey';
export type ProviderForgery =
    | 'LockCollateral'
    | 'ReleaseCollateral'
    | 'SlashForEquivocation'
    | 'RegistrationConfirmed'
    | 'AttestationVerified'
    | 'RevocationVerified'
    | 'Unjail';
export type RootForgery =
    | 'RegisterProvider'
    | 'VerifyAttestation'
    | 'SetParams'
    | 'AddVerifier'
    | 'RemoveVerifier'
    | 'SetThreshold'
    | 'AllowMeasurement'
    | 'WithdrawMeasurement'
    | 'CancelChange'
    | 'WithdrawTreasury'
    | 'UnjailProvider'
    | 'ProposeOwner'
    | 'AcceptOwnership';
export type Change =
    | { kind: 'params'; params: Partial<Record<keyof Omit<ProtocolParams, '$$type'>, number>>; valid: boolean }
    | { kind: 'addVerifier' }
    | { kind: 'removeVerifier'; index: number }
    | { kind: 'threshold'; threshold: number }
    | { kind: 'allowMeasurement'; seed: number }
    | { kind: 'withdrawMeasurement' };

export type Action =
    // clients (or someone not entitled, in their place)
    | { kind: 'open'; s: SlotRef; by: Role; deadline: Deadline; ton: number; model: 'listed' | 'second' | 'unlisted' }
    | { kind: 'topUp'; s: Target; by: Role; ton: number }
    | { kind: 'close'; s: Target; by: Role }
    | { kind: 'finalize'; s: Target; by: Role }
    // the Provider's acceptance of a new session is delayed by the network `delay` seconds; with
    // `cancel` (and a delay of at least OPENING_TIMEOUT) the client takes its escrow back first
    | { kind: 'openLate'; s: SlotRef; ton: number; delay: number; cancel: boolean }
    // providers' workers: serving signs a receipt off-chain; claims and acknowledgements
    | { kind: 'serve'; s: Target; tokensIn: number; tokensOut: number }
    | { kind: 'claim'; s: Target; by: 'owner' | 'stranger'; receipt: ClaimVariant }
    | { kind: 'equivocate'; s: Target; tokensOut: number; claimIt: boolean }
    // reporters
    | { kind: 'report'; s: Target; by: Role; pair: PairVariant }
    | {
          kind: 'revoke';
          to: 'provider' | 'session';
          s: Target;
          by: Role;
          names: RevocationNames;
          signers: 'threshold' | 'one' | 'unknown';
      }
    // provider owners (or someone not entitled)
    | { kind: 'stake'; prov: number; by: OwnerRole; ton: number }
    | { kind: 'register'; prov: number; by: OwnerRole; ton: number }
    | { kind: 'unstake'; prov: number; by: OwnerRole; percent: number }
    | { kind: 'withdraw'; prov: number; by: OwnerRole; whenDue: boolean } // whenDue: waits for the first release first
    | { kind: 'status'; prov: number; by: OwnerRole; msg: 'PauseProvider' | 'ResumeProvider' | 'ExitProvider' }
    | { kind: 'listing'; prov: number; by: OwnerRole; listing: 'same' | 'firstOnly' | 'pricier' | 'invalid' }
    | { kind: 'attest'; prov: number; by: 'owner' | 'stranger'; proof: 'fresh' | 'replay' | 'oneSigner' | 'future' | 'otherProvider' }
    // strangers: messages only a Provider, Session or Root may send, and Root's open doors
    | { kind: 'forgeProvider'; prov: number; by: Party; msg: ProviderForgery; ton: number }
    | { kind: 'forgeSession'; s: Target; by: Party; msg: 'SessionAccepted' | 'RevocationVerified' }
    | { kind: 'forgeRoot'; by: Party; msg: RootForgery }
    | { kind: 'deposit'; by: Party; amount: number; ton: number }
    | { kind: 'askRoot'; by: Party; msg: 'VerifyRevocation' | 'DeployRoot' | 'transfer'; ton: number }
    // governance
    | { kind: 'propose'; change: Change }
    | { kind: 'execute'; by: Party; index: number; whenDue: boolean }
    | { kind: 'cancel'; index: number }
    | { kind: 'unjail'; prov: number }
    | { kind: 'withdrawTreasury'; percent: number }
    // time
    | { kind: 'wait'; seconds: number };

export type Kind = Action['kind'];

// ---------------------------------------------------------------------------------------------
// Arbitraries (each shrinks towards its first, simplest choice)
// ---------------------------------------------------------------------------------------------

const weighted = <T>(...choices: [number, fc.Arbitrary<T>][]) => fc.oneof(...choices.map(([weight, arbitrary]) => ({ weight, arbitrary })));
const pick = <T>(...values: T[]) => fc.constantFrom(...values);

const prov01 = pick(HONEST, DISHONEST);
// Sessions of providers 0 to 3, weighted (the ghost and nobody only make sense to open).
const slotsOf = (providerWeights: number[]): fc.Arbitrary<SlotRef> =>
    fc.record({
        client: fc.integer({ min: 0, max: 1 }),
        prov: weighted<number>(
            ...providerWeights.flatMap((wt, prov) => (wt > 0 ? [[wt, fc.constant(prov)] as [number, fc.Arbitrary<number>]] : [])),
        ),
        nonce: fc.integer({ min: 0, max: 1 }),
    });
const slotRef = slotsOf([4, 4, 1, 1]);
const servedSlot = fc.record({ client: fc.integer({ min: 0, max: 1 }), prov: prov01, nonce: fc.integer({ min: 0, max: 1 }) });
const live: fc.Arbitrary<Target> = fc.record({ live: fc.nat({ max: 15 }) });
const target = weighted<Target>([3, live], [1, slotRef]);
const servedTarget = weighted<Target>([3, live], [1, servedSlot]);
const role: fc.Arbitrary<Role> = weighted<Role>([6, fc.constant('client')], [1, pick('otherClient', 'stranger', 'owner1')]);
const anyRole: fc.Arbitrary<Role> = pick('client', 'stranger', 'otherClient', 'owner1');
const ownerRole: fc.Arbitrary<OwnerRole> = weighted<OwnerRole>([5, fc.constant('owner')], [1, pick('stranger', 'client0')]);
const outsider: fc.Arbitrary<Party> = pick('stranger', 'client0', 'owner1');
const budget = weighted<number>(
    [1, pick(0.01, 0.05, 0.5, 1.05)],
    [4, fc.integer({ min: 2, max: 60 })],
    [1, fc.integer({ min: 400, max: 6000 })],
);
const tokens = fc.integer({ min: 0, max: 5_000_000 });

const changeArb: fc.Arbitrary<Change> = weighted<Change>(
    [
        4,
        fc.record({
            kind: fc.constant('params' as const),
            params: fc.record(
                {
                    protocolFeeBps: fc.integer({ min: 0, max: 1000 }),
                    collateralBps: fc.integer({ min: 0, max: 5000 }),
                    timeoutSlashBps: fc.integer({ min: 0, max: 10000 }),
                    revocationSlashBps: fc.integer({ min: 0, max: 2000 }),
                    equivocationSlashBps: fc.integer({ min: 0, max: 5000 }),
                    reporterRewardBps: fc.integer({ min: 0, max: 2000 }),
                    closeGracePeriod: fc.integer({ min: 600, max: 4 * 3600 }),
                    minProviderStake: fc.integer({ min: 10, max: 400 }), // TON
                    jailDuration: fc.integer({ min: 3600, max: 30 * DAY }),
                    maxSessionDuration: fc.integer({ min: 3600, max: 90 * DAY }),
                },
                { requiredKeys: [] },
            ),
            valid: weighted<boolean>([5, fc.constant(true)], [1, fc.constant(false)]),
        }),
    ],
    [1, fc.constant({ kind: 'addVerifier' as const })],
    [1, fc.record({ kind: fc.constant('removeVerifier' as const), index: fc.integer({ min: 0, max: 3 }) })],
    [1, fc.record({ kind: fc.constant('threshold' as const), threshold: fc.integer({ min: 1, max: 4 }) })],
    [1, fc.record({ kind: fc.constant('allowMeasurement' as const), seed: fc.integer({ min: 1, max: 1000 }) })],
    [1, fc.constant({ kind: 'withdrawMeasurement' as const })],
);

function openArbitrary(s: fc.Arbitrary<SlotRef>) {
    return fc.record({
        kind: fc.constant('open' as const),
        s,
        by: role,
        deadline: weighted<Deadline>(
            [3, pick('day', 'instant', 'minute', 'hour', 'max')],
            [1, pick('now', 'past', 'overMax', 'uint32Max')],
        ),
        ton: budget,
        model: weighted([6, fc.constant('listed' as const)], [1, pick('second' as const, 'unlisted' as const)]),
    });
}

export const ARBITRARIES: { [K in Kind]: fc.Arbitrary<Extract<Action, { kind: K }>> } = {
    open: openArbitrary(slotRef),
    topUp: fc.record({ kind: fc.constant('topUp'), s: target, by: role, ton: pick(1, 0.001, 0.01, 20, 3000) }),
    close: fc.record({ kind: fc.constant('close'), s: target, by: role }),
    finalize: fc.record({ kind: fc.constant('finalize'), s: target, by: anyRole }),
    openLate: fc.record({
        kind: fc.constant('openLate'),
        s: servedSlot,
        ton: budget,
        delay: weighted<number>([1, fc.constant(Number(OPENING_TIMEOUT))], [1, fc.integer({ min: 1, max: Number(OPENING_TIMEOUT) })]),
        cancel: fc.boolean(),
    }),
    serve: fc.record({ kind: fc.constant('serve'), s: servedTarget, tokensIn: tokens, tokensOut: tokens }),
    claim: fc.record({
        kind: fc.constant('claim'),
        s: servedTarget,
        by: weighted([4, fc.constant('owner' as const)], [1, fc.constant('stranger' as const)]),
        receipt: weighted<ClaimVariant>(
            [4, fc.constant('latest')],
            [3, pick('forgedKey', 'amountMismatch', 'overBudget', 'stale', 'otherSession', 'wrongOpenedAt', 'wrongNetwork')],
        ),
    }),
    equivocate: fc.record({
        kind: fc.constant('equivocate'),
        s: weighted<Target>(
            [3, live],
            [1, fc.record({ client: fc.integer({ min: 0, max: 1 }), prov: fc.constant(DISHONEST), nonce: fc.integer({ min: 0, max: 1 }) })],
        ),
        tokensOut: fc.integer({ min: 1, max: 1_000_000 }),
        claimIt: fc.boolean(),
    }),
    report: fc.record({
        kind: fc.constant('report'),
        s: servedTarget,
        by: anyRole,
        pair: weighted<PairVariant>([3, fc.constant('real')], [2, pick('identical', 'differentSeqno', 'forgedKey')]),
    }),
    revoke: fc.record({
        kind: fc.constant('revoke'),
        to: pick('provider' as const, 'session' as const),
        s: weighted<Target>(
            [3, live],
            [3, fc.record({ client: fc.constant(0), prov: fc.constant(DISHONEST), nonce: fc.constant(0) })],
            [1, servedSlot],
        ),
        by: anyRole,
        names: weighted<RevocationNames>([3, fc.constant('current')], [2, pick('stale', 'replay', 'honest')]),
        signers: weighted([3, fc.constant('threshold' as const)], [1, pick('one' as const, 'unknown' as const)]),
    }),
    stake: fc.record({ kind: fc.constant('stake'), prov: prov01, by: ownerRole, ton: pick(10, 0.001, 0.1, 200) }),
    register: fc.record({ kind: fc.constant('register'), prov: prov01, by: ownerRole, ton: pick(100, 1, 300) }),
    unstake: fc.record({ kind: fc.constant('unstake'), prov: prov01, by: ownerRole, percent: fc.integer({ min: 0, max: 100 }) }),
    withdraw: fc.record({ kind: fc.constant('withdraw'), prov: prov01, by: ownerRole, whenDue: fc.boolean() }),
    status: fc.record({
        kind: fc.constant('status'),
        prov: prov01,
        by: ownerRole,
        msg: pick('PauseProvider' as const, 'ResumeProvider' as const, 'ExitProvider' as const),
    }),
    listing: fc.record({
        kind: fc.constant('listing'),
        prov: prov01,
        by: ownerRole,
        listing: pick('same' as const, 'firstOnly' as const, 'pricier' as const, 'invalid' as const),
    }),
    attest: fc.record({
        kind: fc.constant('attest'),
        prov: prov01,
        by: weighted([3, fc.constant('owner' as const)], [1, fc.constant('stranger' as const)]),
        proof: weighted(
            [4, fc.constant('fresh' as const)],
            [1, pick('replay' as const, 'oneSigner' as const, 'future' as const, 'otherProvider' as const)],
        ),
    }),
    forgeProvider: fc.record({
        kind: fc.constant('forgeProvider'),
        prov: prov01,
        by: outsider,
        msg: pick<ProviderForgery>(
            'ReleaseCollateral',
            'SlashForEquivocation',
            'LockCollateral',
            'RegistrationConfirmed',
            'AttestationVerified',
            'RevocationVerified',
            'Unjail',
        ),
        ton: pick(0.5, 0.05, 50),
    }),
    forgeSession: fc.record({
        kind: fc.constant('forgeSession'),
        s: servedTarget,
        by: outsider,
        msg: pick('SessionAccepted' as const, 'RevocationVerified' as const),
    }),
    forgeRoot: fc.record({
        kind: fc.constant('forgeRoot'),
        by: outsider,
        msg: pick<RootForgery>(
            'WithdrawTreasury',
            'RegisterProvider',
            'VerifyAttestation',
            'SetParams',
            'AddVerifier',
            'RemoveVerifier',
            'SetThreshold',
            'AllowMeasurement',
            'WithdrawMeasurement',
            'CancelChange',
            'UnjailProvider',
            'ProposeOwner',
            'AcceptOwnership',
        ),
    }),
    deposit: fc.record({
        kind: fc.constant('deposit'),
        by: outsider,
        amount: pick(0, 1, 0.5, 100),
        ton: pick(0.05, 0.001, 1, 2),
    }),
    askRoot: fc.record({
        kind: fc.constant('askRoot'),
        by: outsider,
        msg: pick('VerifyRevocation' as const, 'DeployRoot' as const, 'transfer' as const),
        ton: pick(0.2, 0.01),
    }),
    propose: fc.record({ kind: fc.constant('propose'), change: changeArb }),
    execute: fc.record({
        kind: fc.constant('execute'),
        by: pick<Party>('governance', 'stranger'),
        index: fc.integer({ min: 0, max: 2 }),
        whenDue: fc.boolean(),
    }),
    cancel: fc.record({ kind: fc.constant('cancel'), index: fc.integer({ min: 0, max: 2 }) }),
    unjail: fc.record({ kind: fc.constant('unjail'), prov: prov01 }),
    withdrawTreasury: fc.record({ kind: fc.constant('withdrawTreasury'), percent: fc.integer({ min: 0, max: 100 }) }),
    wait: fc.record({
        kind: fc.constant('wait'),
        seconds: weighted<number>(
            [3, pick(600, 1, 60, 601, 3600, 3601, DAY)],
            [2, fc.integer({ min: 1, max: 2 * DAY })],
            [1, fc.integer({ min: 1, max: 3 * WEEK })],
        ),
    }),
};

export type Weights = Partial<Record<Kind, number>>;

// Sequences of actions of the given kinds; `openProviders` weighs the providers sessions are
// opened with (default 4, 4, 1, 1).
export function actionsArbitrary(weights: Weights, maxLength: number, openProviders?: number[]): fc.Arbitrary<Action[]> {
    const choices = (Object.keys(ARBITRARIES) as Kind[])
        .filter((k) => (weights[k] ?? 0) > 0)
        .map((k) => ({
            weight: weights[k]!,
            arbitrary: (k === 'open' && openProviders ? openArbitrary(slotsOf(openProviders)) : ARBITRARIES[k]) as fc.Arbitrary<Action>,
        }));
    return fc.array(fc.oneof(...choices), { minLength: 1, maxLength, size: 'max' });
}
