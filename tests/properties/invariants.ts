// What must hold after every step, whatever the step was:
//
// 1. TON is conserved: the balances of every account involved (contracts and wallets) change by
//    exactly minus the network's fees.
// 2. No contract holds less than it owes: Root its treasury, a Provider its stake and unbonding
//    requests (and locks no more than its stake), a Session its unclaimed budget while it is open
//    (after finalizing, only its storage reserve).
// 3. The honest provider never loses stake: nothing is slashed from it, it is never jailed, and
//    its stake + unbonding requests only go down by what its owner withdrew.
// 4. A client never receives more than its escrow plus its share of slashes of a provider that
//    really misbehaved: what it received minus what it sent, plus what its sessions paid
//    providers, is at most the compensation of real equivocations in its sessions, the reporter
//    rewards it earned, and the value others sent into its sessions, but for claims, finalizes and
//    revocations (their senders get back what they do not spend) and with the value of every
//    bounce into its sessions (that goes to the client, whoever paid for the leg that bounced).
// 5. A stranger never gains, except reporter rewards of real equivocations and revocations.
//
// Besides: every slash is exactly the one the model predicts (model.ts), messages the model says
// must fail fail, a Session only ever holds a claim the enclave signed for it, and seqnos never
// go back.
import { BlockchainTransaction } from '@ton/sandbox';
import { rentPaid } from '../../testkit';
import { Address } from '@ton/core';
import {
    SESSION_STATUS_NAMES,
    SESSION_FINALIZED,
    SESSION_OPENING,
    SESSION_RELEASE_FAILED,
    SESSION_STORAGE_RESERVE,
    STATUS_JAILED,
    accountOf,
    feesOf,
} from '../../wrappers';
import { Action } from './actions';
import { Step, slotName } from './perform';
import { Leg } from './model';
import { DISHONEST, HONEST, PARTIES, Party, World, clientParty, isOpenOrClosing } from './world';

const CLAIM_USAGE = 0xc0c04005;
const FINALIZE_SESSION = 0xc0c04007;
const SUBMIT_REVOCATION = 0xc0c0300a;

export class Violation extends Error {}

function check(condition: boolean, message: () => string) {
    if (!condition) throw new Violation(message());
}

// The transaction of `l.to` processing the message `l.from` sent (the last such: an action that
// waits first, and lets the workers act, sends its own message last).
function txOf(transactions: BlockchainTransaction[], l: Leg) {
    return [...transactions]
        .reverse()
        .find((t) => t.inMessage?.info.type === 'internal' && t.inMessage.info.src.equals(l.from) && t.inMessage.info.dest.equals(l.to));
}

export function succeeded(tx: BlockchainTransaction) {
    return tx.description.type === 'generic' && !tx.description.aborted && tx.description.computePhase.type === 'vm';
}

function exitCode(tx: BlockchainTransaction) {
    return tx.description.type === 'generic' && tx.description.computePhase.type === 'vm'
        ? tx.description.computePhase.exitCode
        : 'skipped';
}

// Outcomes counted over all runs of a test file (printed with FC_STATS=1): shows the sequences
// reach the states that matter (sessions accepted, slashes of each kind, honest claims...).
export const outcomes = new Map<string, number>();
const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);

export function printOutcomes(title: string) {
    if (!process.env.FC_STATS) return;
    const lines = [...outcomes.entries()].sort().map(([k, v]) => `${k.padEnd(40)} ${v}`);
    console.log(`${title}\n${lines.join('\n')}`);
}

export async function checkStep(w: World, a: Action, step: Step) {
    const what = JSON.stringify(a);
    w.transactions.push(...step.transactions);
    // the last message a party sent in this step (actions that wait first send theirs last)
    const wallets = new Map(PARTIES.map((x) => [w.wallet(x).address.toRawString(), x]));
    const main = [...step.transactions]
        .reverse()
        .find((t) => t.inMessage?.info.type === 'internal' && wallets.has(t.inMessage.info.src.toRawString()));
    count(`${a.kind}: ${main === undefined ? 'nothing sent' : succeeded(main) ? 'accepted' : 'refused'}`);
    for (const prov of [HONEST, DISHONEST]) if (step.expect.slash[prov] > 0n) count(`slash of provider ${prov} by ${a.kind}`);
    if ((a.kind === 'open' || a.kind === 'finalize') && w.acted) {
        const state = await w.session(w.acted);
        count(`${a.kind}: session ends ${state === undefined ? 'absent' : SESSION_STATUS_NAMES[Number(state.status)]}`);
        const provider = w.s.providers[w.acted.prov].address;
        const lock = step.transactions.find((t) => accountOf(t).equals(provider));
        if (a.kind === 'open' && lock) count(`open: provider ${w.acted.prov} exit code ${exitCode(lock)}`);
    }
    const touched = new Set(step.transactions.map((tx) => accountOf(tx).toRawString()));
    const isTouched = (address: Address) => touched.has(address.toRawString());

    // 1. conservation
    await w.ledger.expectConserved(w.transactions);

    // the model's expectations of this step
    for (const l of step.expect.fails) {
        const tx = txOf(step.transactions, l);
        check(tx !== undefined, () => `${what}: no transaction at ${l.to}`);
        check(!succeeded(tx!), () => `${what}: must fail at ${l.to} but succeeded`);
    }
    for (const l of step.expect.succeeds) {
        const tx = txOf(step.transactions, l);
        check(tx !== undefined && succeeded(tx), () => `${what}: must succeed at ${l.to}, exit code ${tx ? exitCode(tx) : 'none'}`);
    }
    for (const address of step.expect.finalized) {
        const slot = w.s.slots.find((x) => x.contract.address.equals(address))!;
        const status = (await w.session(slot))?.status;
        check(status === SESSION_FINALIZED, () => `${what}: ${slotName(slot)} must be finalized, its status is ${status}`);
    }
    if (step.expect.attestationKept) {
        const { prov, held } = step.expect.attestationKept;
        const now = await w.provider(prov).attestation();
        check(JSON.stringify(now, big) === JSON.stringify(held, big), () => `${what}: provider ${prov}'s attestation changed`);
    }

    // 2. obligations, and the slashes the model predicts
    if (isTouched(w.p.root.address)) {
        const treasury = await w.root().treasury();
        const balance = await w.view.balance(w.p.root.address);
        check(balance >= treasury, () => `${what}: Root holds ${balance} < treasury ${treasury}`);
    }
    for (const prov of [HONEST, DISHONEST]) {
        const v = w.provider(prov);
        if (!isTouched(v.contract.address)) {
            check(
                step.expect.slash[prov] === 0n,
                () => `${what}: predicted a slash of ${step.expect.slash[prov]} at provider ${prov}, which was not touched`,
            );
            continue;
        }
        const stake = await v.stake();
        const unbonding = (await v.unbonding()).total;
        const balance = await w.view.balance(v.contract.address);
        check(balance >= stake + unbonding, () => `${what}: provider ${prov} holds ${balance} < stake ${stake} + unbonding ${unbonding}`);
        const locked = await v.locked();
        check(locked <= stake, () => `${what}: provider ${prov} locks more than its stake`);
        // collateral is locked exactly while the provider's sessions run (a slash may clamp it)
        let running = 0n;
        for (const slot of w.s.slots.filter((x) => x.prov === prov)) {
            const state = await w.session(slot);
            if (isOpenOrClosing(state) || state?.status === SESSION_RELEASE_FAILED) running += w.settlementOf(state!).collateral;
        }
        check(
            prov === HONEST ? locked === running : locked <= running,
            () => `${what}: provider ${prov} locks ${locked}, its running sessions' collateral is ${running}`,
        );
        const slashed = (await v.stats()).slashed;
        check(
            slashed - w.slashedSoFar[prov] === step.expect.slash[prov],
            () => `${what}: provider ${prov} was slashed ${slashed - w.slashedSoFar[prov]}, the model expected ${step.expect.slash[prov]}`,
        );
        w.slashedSoFar[prov] = slashed;

        // 3. the honest provider
        if (prov === HONEST) {
            check(slashed === 0n, () => `${what}: the honest provider was slashed ${slashed}`);
            check((await v.status()) !== STATUS_JAILED, () => `${what}: the honest provider is jailed`);
            const bonded = stake + unbonding;
            const released = step.expect.released;
            check(
                released > 0n ? bonded === w.honestBonded - released : bonded >= w.honestBonded,
                () => `${what}: the honest provider's stake + unbonding went from ${w.honestBonded} to ${bonded} (withdrawn: ${released})`,
            );
            w.honestBonded = bonded;
        }
    }
    // ... and nobody's message makes Root or a Provider pay from its own funds (storage fees aside)
    for (const address of w.fundedContracts()) {
        if (!isTouched(address)) continue;
        const raw = address.toRawString();
        const own = await w.ownFundsOf(address);
        const storage = rentPaid(step.transactions, address);
        check(
            own + storage >= w.ownFunds.get(raw)!,
            () => `${what}: ${nameOf(w, address)} paid ${w.ownFunds.get(raw)! - own - storage} from its own funds`,
        );
        w.ownFunds.set(raw, own);
    }
    for (const slot of w.s.slots) {
        if (!isTouched(slot.contract.address)) continue;
        const state = await w.session(slot);
        if (state === undefined) continue;
        const balance = await w.view.balance(slot.contract.address);
        const name = slotName(slot);
        if (state.status === SESSION_OPENING)
            check(balance >= state.budget, () => `${what}: ${name} holds ${balance} < its budget ${state.budget}`);
        if (isOpenOrClosing(state)) {
            check(state.claimed <= state.budget, () => `${what}: ${name} claimed ${state.claimed} > budget ${state.budget}`);
            check(
                balance >= state.budget - state.claimed,
                () => `${what}: ${name} holds ${balance} < unclaimed ${state.budget - state.claimed}`,
            );
        }
        for (const tx of step.transactions) {
            const aborted = tx.description.type === 'generic' && tx.description.aborted;
            if (
                aborted &&
                tx.outMessagesCount === 0 &&
                tx.inMessage?.info.type === 'internal' &&
                accountOf(tx).equals(slot.contract.address)
            ) {
                const key = slot.contract.address.toRawString();
                w.unbounced.set(key, (w.unbounced.get(key) ?? 0n) + tx.inMessage.info.value.coins);
            }
        }
        if (state.status === SESSION_FINALIZED || state.status === SESSION_RELEASE_FAILED) {
            const left = w.unbounced.get(slot.contract.address.toRawString()) ?? 0n;
            check(balance <= SESSION_STORAGE_RESERVE + left, () => `${what}: finalized ${name} keeps ${balance} > its reserve`);
        }
        // a claim is always the amount of a receipt the enclave signed for this opening
        if (state.seqno > 0n) {
            const signed = w.incarnation(slot, state.openedAt).receipts.filter((r) => BigInt(r.seqno) === state.seqno);
            check(
                signed.some((r) => r.amount === state.claimed),
                () => `${what}: ${name} holds claim ${state.claimed} at seqno ${state.seqno}, which its enclave never signed`,
            );
        }
        const key = `${slot.contract.address.toRawString()}@${state.openedAt}`;
        check(state.seqno >= (w.lastSeqno.get(key) ?? 0n), () => `${what}: ${name}'s seqno went back`);
        w.lastSeqno.set(key, state.seqno);
        // nobody's message makes a live Session pay from its own funds (its balance less the
        // unclaimed budget and the protocol fee it holds for the treasury)
        if (state.status === SESSION_OPENING || isOpenOrClosing(state)) {
            const fee = state.terms ? (state.claimed * state.terms.protocolFeeBps) / 10_000n : 0n;
            const own = balance - (state.budget - state.claimed) - fee;
            const before = w.ownFunds.get(key);
            const storage = rentPaid(step.transactions, slot.contract.address);
            check(
                before === undefined || own + storage >= before,
                () => `${what}: ${name} paid ${before! - own - storage} from its own funds`,
            );
            w.ownFunds.set(key, own);
        }
    }

    // 4 and 5: what parties received
    for (const tx of step.transactions) {
        const party = wallets.get(accountOf(tx).toRawString());
        if (party) w.fees.set(party, w.fees.get(party)! + feesOf([tx]));
        const info = tx.inMessage?.info;
        if (info?.type !== 'internal') continue;
        const slot = w.s.slots.find((x) => x.contract.address.equals(accountOf(tx)));
        if (!slot) continue;
        // a bounce's value goes to the client, whoever paid for the leg that bounced
        if (info.bounced) {
            w.donations[slot.client] += info.value.coins;
            continue;
        }
        const from = wallets.get(info.src.toRawString());
        if (!from || from === clientParty(slot.client)) continue;
        const body = tx.inMessage!.body.beginParse();
        const op = body.remainingBits >= 32 ? body.preloadUint(32) : undefined;
        // a claim's value goes to the payee; what a finalize or a revocation does not spend goes
        // back to its sender (the client gets its escrow, nothing of the sender's value)
        if (op === CLAIM_USAGE || op === FINALIZE_SESSION || op === SUBMIT_REVOCATION) continue;
        w.donations[slot.client] += info.value.coins;
    }
    for (const party of ['client0', 'client1', 'stranger'] as Party[]) {
        const net = (await w.view.balance(w.wallet(party).address)) - w.startBalance.get(party)! + w.fees.get(party)!;
        let bound = w.allowance.get(party)!;
        let paid = 0n;
        if (party !== 'stranger') {
            const client = party === 'client0' ? 0 : 1;
            bound += w.donations[client];
            for (const slot of w.s.slots.filter((x) => x.client === client)) paid += (await w.session(slot))?.claimed ?? 0n;
        }
        check(
            net + paid <= bound,
            () =>
                `${what}: ${party} received ${net} net (its sessions paid ${paid}), more than it may: ${bound} (allowance ${w.allowance.get(party)})`,
        );
    }
}

function nameOf(w: World, address: Address) {
    return address.equals(w.p.root.address) ? 'Root' : `provider ${w.s.providers.findIndex((x) => x.address.equals(address))}`;
}

const big = (_: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);
