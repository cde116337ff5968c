// The model of expected outcomes: which messages must fail, which must go through, and how much
// stake each step slashes, with who may gain from it. Everything else the invariants check
// (invariants.ts) holds whatever happened.
//
// Slashes, the only way stake leaves without its owner asking:
// - timeout: a Session finalized after its claim window with no receipt ever claimed slashes
//   timeoutSlashBps of its collateral, all to the treasury: nobody gains (a Session a revocation
//   ends before its window is over did not time out);
// - equivocation: two different receipts with one seqno, both signed by the session's enclave key,
//   reported once per session: equivocationSlashBps of bonded + unbonding stake; the reporter gets
//   reporterRewardBps of it, the client up to what it paid in that session, the treasury the rest;
// - revocation: a verifier threshold revoking the attestation the Provider holds (its key and
//   issued-at), once per attestation, jailed or not: revocationSlashBps of bonded + unbonding
//   stake; the reporter gets reporterRewardBps of it.
// A slash never takes more than bonded + unbonding stake.
//
// Messages that must fail (perform.ts records them per action): Open, TopUp and Close from anyone
// but the session's client, or in the wrong status; an owner's message from anyone else; every
// message only a Session, Provider or Root may send, from anyone else; governance's messages
// from anyone else; a claim of a receipt the enclave did not sign for that session and opening,
// or that is stale, over budget or miscounted; a report of anything but two different receipts
// with one seqno signed by the session's key; a revocation at a Provider it does not name, or at
// a Session whose key and attestation it does not name; a finalize before the claim window (or,
// for an escrow never accepted, OPENING_TIMEOUT) is over. Messages that must go through: the
// honest worker's claims, a client's Close of its open session, a finalize once allowed (the
// Session is then finalized), a withdrawal of released stake.
import { Address } from '@ton/core';
import { OPENING_TIMEOUT, SESSION_FINALIZED, SESSION_NEW, SESSION_OPENING, SESSION_RELEASE_FAILED } from '../../wrappers';
import { DISHONEST, HONEST, Party, SessionState, World, isOpenOrClosing, windowEnd } from './world';

const BPS = 10_000n;

export interface Leg {
    from: Address;
    to: Address;
}

export interface Expectation {
    fails: Leg[]; // the transaction of `to` processing a message of `from` must fail
    succeeds: Leg[]; // ... must succeed
    slash: bigint[]; // by provider (0 and 1): exactly this much stake slashed by this step
    finalized: Address[]; // these Sessions must be finalized after this step
    released: bigint; // provider 0's unbonded stake paid out by this step (WithdrawStake)
    attestationKept?: { prov: number; held: unknown }; // this provider's attestation must stay `held`
}

export function nothingExpected(): Expectation {
    return { fails: [], succeeds: [], slash: [0n, 0n], finalized: [], released: 0n };
}

async function cappedSlash(w: World, prov: number, amount: bigint) {
    const bonded = await w.bonded(prov);
    return amount < bonded ? amount : bonded;
}

// A session that ends with no receipt claimed: timeoutSlashBps of its collateral.
export async function timeoutSlash(w: World, prov: number, state: SessionState): Promise<bigint> {
    if (state.seqno !== 0n) return 0n;
    const params = (await w.provider(prov).params())!;
    return cappedSlash(w, prov, (w.settlementOf(state).collateral * params.timeoutSlashBps) / BPS);
}

export async function stakeSlash(w: World, prov: number, kind: 'equivocation' | 'revocation') {
    const params = (await w.provider(prov).params())!;
    const bps = kind === 'equivocation' ? params.equivocationSlashBps : params.revocationSlashBps;
    const slashed = await cappedSlash(w, prov, ((await w.bonded(prov)) * bps) / BPS);
    return { slashed, reward: (slashed * params.reporterRewardBps) / BPS };
}

// FinalizeSession (from anyone, with a value that pays for the settlement): does it go through,
// and what does it slash?
export async function finalizeOutcome(w: World, prov: number, state: SessionState | undefined): Promise<{ ok: boolean; slash: bigint }> {
    if (state === undefined || state.status === SESSION_NEW || state.status === SESSION_FINALIZED) return { ok: false, slash: 0n };
    // an escrow the Provider never answered comes back after OPENING_TIMEOUT
    if (state.status === SESSION_OPENING) return { ok: w.now >= Number(state.openedAt + OPENING_TIMEOUT), slash: 0n };
    const slash = prov === HONEST || prov === DISHONEST ? await timeoutSlash(w, prov, state) : 0n;
    if (state.status === SESSION_RELEASE_FAILED) return { ok: true, slash };
    // nothing finalizes before the claim window the terms promised is over
    if (w.now <= windowEnd(state)) return { ok: false, slash: 0n };
    return { ok: true, slash };
}

// A real equivocation in `state`'s session: slash, reward to the reporter, compensation to the
// client capped at what it paid. Records what the invariants allow each party to gain.
export async function equivocationOutcome(w: World, prov: number, state: SessionState, reporter: Party, client: Party) {
    const { slashed, reward } = await stakeSlash(w, prov, 'equivocation');
    const rest = slashed - reward;
    const compensation = rest < state.claimed ? rest : state.claimed;
    grant(w, reporter, reward);
    grant(w, client, compensation);
    return slashed;
}

export function grant(w: World, party: Party, amount: bigint) {
    w.allowance.set(party, w.allowance.get(party)! + amount);
}

// Whether a verified revocation naming `names` slashes `prov`: it names the attestation the
// Provider holds, and no revocation slashed that one yet.
export async function revocationApplies(w: World, prov: number, names: { key: bigint; issuedAt: bigint }) {
    const held = await w.provider(prov).attestation();
    return (
        held !== null && held.signingKey === names.key && held.issuedAt === names.issuedAt && !w.revoked.has(`${prov}@${names.issuedAt}`)
    );
}

// Whether a Session would take a revocation: open, same Provider and key, and an attestation at
// least as new as the one its terms came from.
export function sessionTakesRevocation(
    w: World,
    prov: number,
    state: SessionState | undefined,
    names: { provider: Address; key: bigint; issuedAt: bigint },
) {
    if (!isOpenOrClosing(state)) return false;
    return (
        names.provider.equals(w.s.providers[prov].address) &&
        names.key === state!.terms!.signingKey &&
        names.issuedAt >= w.settlementOf(state!).attestationIssuedAt
    );
}
