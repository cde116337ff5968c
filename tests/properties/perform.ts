// What each action does on the chain, played by the parties and by the off-chain parts the model
// holds (the enclaves' workers, the verifiers), and what the model (model.ts) expects of it.
import { BlockchainTransaction } from '@ton/sandbox';
import { Address, Cell, beginCell, external, internal, toNano } from '@ton/core';
import { KeyPair } from '@ton/crypto';
import {
    GLOBAL_ID_TESTNET,
    OPENING_TIMEOUT,
    ProtocolParams,
    SESSION_CLOSING,
    SESSION_OPEN,
    SESSION_OPENING,
    buildListing,
    buildRevocationProof,
    buildSignatureChain,
    clientKeyHashOf,
    modelKey,
    signProof,
    storeOpenSession,
    storeProtocolParams,
    storeSessionSettlement,
    storeSessionTerms,
} from '../../wrappers';
import { DAY, MEASUREMENT, MODEL, TEST_LISTING, TEST_PARAMS, key256, proofFields, signedProof } from '../../testkit';
import { Action, Change, Deadline, OwnerRole, Role, Target } from './actions';
import {
    Expectation,
    equivocationOutcome,
    finalizeOutcome,
    grant,
    nothingExpected,
    revocationApplies,
    sessionTakesRevocation,
    stakeSlash,
} from './model';
import {
    CLAIM_VALUE,
    DISHONEST,
    HONEST,
    Party,
    Revocation,
    RevocationNames,
    STRANGER_KEY,
    Signed,
    SessionState,
    Slot,
    VERIFIER_KEYS,
    World,
    clientParty,
    isOpenOrClosing,
    ownerParty,
    windowEnd,
} from './world';

export interface Step {
    transactions: BlockchainTransaction[];
    expect: Expectation;
}

const ton = (x: number) => toNano(x.toFixed(9));
const GENEROUS = toNano('0.3'); // pays for any chain a message starts

const ANY_PROVIDER = [0, 1, 2, 3];
const SERVING = [HONEST, DISHONEST];

// The session an action goes to: a fixed one, or the n-th of those in play (opening, open or
// closing) among the given providers' (or of those that `prefer` picks, if any).
async function resolve(w: World, t: Target, provs: number[], prefer?: (slot: Slot, state: SessionState) => boolean): Promise<Slot> {
    let slot: Slot;
    if ('live' in t) {
        const candidates = w.s.slots.filter((x) => provs.includes(x.prov));
        const inPlay: Slot[] = [];
        const preferred: Slot[] = [];
        for (const x of candidates) {
            const state = await w.session(x);
            if (state && state.status >= SESSION_OPENING && state.status <= SESSION_CLOSING) inPlay.push(x);
            if (state && prefer?.(x, state)) preferred.push(x);
        }
        const pool = preferred.length > 0 ? preferred : inPlay.length > 0 ? inPlay : candidates;
        slot = pool[t.live % pool.length];
    } else slot = w.slot(t.client, t.prov, t.nonce);
    w.acted = slot;
    return slot;
}

function roleParty(r: Role, slot: Slot): Party {
    if (r === 'client') return clientParty(slot.client);
    if (r === 'otherClient') return clientParty(1 - slot.client);
    return r;
}

function ownerRoleParty(r: OwnerRole, prov: number): Party {
    return r === 'owner' ? ownerParty(prov) : r;
}

// Sends `body` from `party` to `target` (a wrapper opened on the sandbox) with `value`.
async function send(w: World, party: Party, target: { send: Function }, value: bigint, body: unknown) {
    const r = await (target.send as (s: unknown, a: { value: bigint }, b: unknown) => Promise<{ transactions: BlockchainTransaction[] }>)(
        w.wallet(party).getSender(),
        { value },
        body,
    );
    return r.transactions;
}

function leg(w: World, party: Party, to: Address) {
    return { from: w.wallet(party).address, to };
}

function paramsCell(params: ProtocolParams): Cell {
    return beginCell().store(storeProtocolParams(params)).endCell();
}

// A proof (attestation or revocation) signed by `keys`.
function signatures(proof: Cell, keys: KeyPair[]) {
    return buildSignatureChain(keys.map((k) => signProof(proof, k.secretKey)));
}

export async function perform(w: World, a: Action): Promise<Step> {
    w.acted = undefined;
    const expect = nothingExpected();
    const done = (transactions: BlockchainTransaction[]) => ({ transactions, expect });
    switch (a.kind) {
        case 'open': {
            const slot = w.slot(a.s.client, a.s.prov, a.s.nonce);
            w.acted = slot;
            const by = roleParty(a.by, slot);
            const state = await w.session(slot);
            if (by !== clientParty(slot.client) || (state && state.status !== 0n)) expect.fails.push(leg(w, by, slot.contract.address));
            const model = a.model === 'listed' ? MODEL : a.model === 'second' ? TEST_LISTING.models[1].name : 'no/such-model';
            return done(
                await send(w, by, slot.contract, ton(a.ton), {
                    $$type: 'OpenSession',
                    queryId: 1n,
                    modelKey: modelKey(model),
                    deadline: deadlineOf(w, a.deadline),
                    clientKeyHash: clientKeyHashOf(Buffer.alloc(32, 0xc1)),
                }),
            );
        }
        case 'topUp': {
            const slot = await resolve(w, a.s, ANY_PROVIDER);
            const by = roleParty(a.by, slot);
            const state = await w.session(slot);
            if (by !== clientParty(slot.client) || state?.status !== SESSION_OPEN) expect.fails.push(leg(w, by, slot.contract.address));
            return done(await send(w, by, slot.contract, ton(a.ton), { $$type: 'TopUpSession', queryId: 0n }));
        }
        case 'close': {
            const slot = await resolve(w, a.s, ANY_PROVIDER);
            const by = roleParty(a.by, slot);
            const state = await w.session(slot);
            const ok = by === clientParty(slot.client) && state?.status === SESSION_OPEN;
            (ok ? expect.succeeds : expect.fails).push(leg(w, by, slot.contract.address));
            return done(await send(w, by, slot.contract, toNano('0.05'), { $$type: 'CloseSession', queryId: 0n }));
        }
        case 'finalize': {
            const slot = await resolve(w, a.s, ANY_PROVIDER);
            const by = roleParty(a.by, slot);
            const outcome = await finalizeOutcome(w, slot.prov, await w.session(slot));
            (outcome.ok ? expect.succeeds : expect.fails).push(leg(w, by, slot.contract.address));
            if (outcome.ok) expect.finalized.push(slot.contract.address);
            if (outcome.ok && slot.prov <= DISHONEST) expect.slash[slot.prov] = outcome.slash;
            return done(await send(w, by, slot.contract, GENEROUS, { $$type: 'FinalizeSession', queryId: 0n }));
        }
        case 'openLate':
            return openLate(w, a, expect);
        case 'serve': {
            const slot = await resolve(w, a.s, SERVING);
            serve(w, slot, await w.session(slot), BigInt(a.tokensIn), BigInt(a.tokensOut));
            return done([]);
        }
        case 'claim':
            return claim(w, a, expect);
        case 'equivocate': {
            // only the dishonest provider's enclave ever signs two receipts with one seqno
            const slot = await resolve(w, a.s, [DISHONEST]);
            const state = await w.session(slot);
            if (slot.prov !== DISHONEST || !state?.terms) return done([]);
            // a receipt that conflicts with the latest one (or with a zero acknowledgement)
            const base = latestOrAck(w, slot, state);
            const other = w.sign(slot, state, base.seqno, base.tokensIn, base.tokensOut + BigInt(a.tokensOut));
            if (!a.claimIt) return done([]);
            return done(await claimWith(w, slot, 'owner1', other));
        }
        case 'report':
            return report(w, a, expect);
        case 'revoke':
            return revoke(w, a, expect);
        case 'stake': {
            const by = ownerRoleParty(a.by, a.prov);
            return done(await send(w, by, w.s.providers[a.prov], ton(a.ton), { $$type: 'Stake', queryId: 0n }));
        }
        case 'register': {
            const by = ownerRoleParty(a.by, a.prov);
            if (a.by !== 'owner') expect.fails.push(leg(w, by, w.s.providers[a.prov].address));
            return done(
                await send(w, by, w.s.providers[a.prov], ton(a.ton), {
                    $$type: 'Register',
                    queryId: 0n,
                    listing: buildListing(TEST_LISTING),
                }),
            );
        }
        case 'unstake': {
            const by = ownerRoleParty(a.by, a.prov);
            if (a.by !== 'owner') expect.fails.push(leg(w, by, w.s.providers[a.prov].address));
            const free = await w.s.providers[a.prov].getFreeStake();
            const amount = (free * BigInt(a.percent)) / 100n;
            return done(await send(w, by, w.s.providers[a.prov], toNano('0.05'), { $$type: 'RequestUnstake', queryId: 0n, amount }));
        }
        case 'withdraw': {
            const by = ownerRoleParty(a.by, a.prov);
            const requests = () =>
                w
                    .provider(a.prov)
                    .unbonding()
                    .then((u) => [...u.requests.values()]);
            // waiting for the first request's release (the honest worker acts meanwhile)
            const first = Math.min(...(await requests()).map((r) => Number(r.releaseAt)));
            const waited = a.whenDue && first > w.now && first < Infinity ? await wait(w, first - w.now) : [];
            const due = (await requests()).filter((r) => Number(r.releaseAt) <= w.now).reduce((sum, r) => sum + r.amount, 0n);
            const ok = a.by === 'owner' && due > 0n;
            (ok ? expect.succeeds : expect.fails).push(leg(w, by, w.s.providers[a.prov].address));
            if (ok && a.prov === HONEST) expect.released = due;
            return done([
                ...waited,
                ...(await send(w, by, w.s.providers[a.prov], toNano('0.05'), { $$type: 'WithdrawStake', queryId: 0n })),
            ]);
        }
        case 'status': {
            const by = ownerRoleParty(a.by, a.prov);
            if (a.by !== 'owner') expect.fails.push(leg(w, by, w.s.providers[a.prov].address));
            return done(await send(w, by, w.s.providers[a.prov], toNano('0.05'), { $$type: a.msg, queryId: 0n }));
        }
        case 'listing': {
            const by = ownerRoleParty(a.by, a.prov);
            if (a.by !== 'owner' || a.listing === 'invalid') expect.fails.push(leg(w, by, w.s.providers[a.prov].address));
            const input =
                a.listing === 'firstOnly'
                    ? { ...TEST_LISTING, models: TEST_LISTING.models.slice(0, 1) }
                    : a.listing === 'pricier'
                      ? {
                            ...TEST_LISTING,
                            models: TEST_LISTING.models.map((m) => ({ ...m, completion: m.prices.completion * 3n })),
                        }
                      : a.listing === 'invalid'
                        ? { ...TEST_LISTING, gpuCount: 0 }
                        : TEST_LISTING;
            return done(
                await send(w, by, w.s.providers[a.prov], toNano('0.1'), {
                    $$type: 'UpdateListing',
                    queryId: 0n,
                    listing: buildListing(input),
                }),
            );
        }
        case 'attest':
            return attest(w, a, expect);
        case 'forgeProvider':
            return forgeProvider(w, a, expect);
        case 'forgeSession': {
            const slot = await resolve(w, a.s, SERVING);
            expect.fails.push(leg(w, a.by, slot.contract.address));
            const forger = w.wallet(a.by).address;
            const body =
                a.msg === 'SessionAccepted'
                    ? {
                          $$type: 'SessionAccepted',
                          queryId: 0n,
                          collateral: 0n,
                          terms: beginCell()
                              .store(
                                  storeSessionTerms({
                                      $$type: 'SessionTerms',
                                      payee: forger,
                                      globalId: BigInt(w.p.globalId),
                                      signingKey: key256(STRANGER_KEY.publicKey),
                                      prices: {
                                          $$type: 'Prices',
                                          prompt: toNano('1000'),
                                          cachedPrompt: toNano('1000'),
                                          completion: toNano('1000'),
                                          reasoning: toNano('1000'),
                                      },
                                      protocolFeeBps: 0n,
                                      closeGracePeriod: 600n,
                                      settlement: beginCell()
                                          .store(
                                              storeSessionSettlement({
                                                  $$type: 'SessionSettlement',
                                                  root: w.p.root.address,
                                                  collateral: 0n,
                                                  attestationIssuedAt: 0n,
                                              }),
                                          )
                                          .endCell(),
                                  }),
                              )
                              .endCell(),
                      }
                    : {
                          $$type: 'RevocationVerified',
                          queryId: 0n,
                          reporter: forger,
                          proof: (await revocationProof(w, 'current', slot.prov, 'unknown')).proof,
                      };
            return done(await send(w, a.by, slot.contract, toNano('0.3'), body));
        }
        case 'forgeRoot':
            return forgeRoot(w, a, expect);
        case 'deposit':
            return done(
                await send(w, a.by, w.p.root, ton(a.ton), { $$type: 'DepositTreasury', queryId: 0n, amount: ton(a.amount), reason: 2n }),
            );
        case 'askRoot': {
            if (a.msg === 'transfer') return done((await w.wallet(a.by).send({ to: w.p.root.address, value: ton(a.ton) })).transactions);
            const body =
                a.msg === 'DeployRoot'
                    ? { $$type: 'DeployRoot', queryId: 0n }
                    : {
                          $$type: 'VerifyRevocation',
                          queryId: 0n,
                          reporter: w.wallet(a.by).address,
                          ...(await revocationProof(w, 'current', DISHONEST)),
                      };
            return done(await send(w, a.by, w.p.root, ton(a.ton), body));
        }
        case 'propose':
            return propose(w, a.change, expect);
        case 'execute':
        case 'cancel': {
            const pending = await w.root().pendingChanges();
            const ids = [...pending.keys()].sort((x, y) => x - y);
            const id = ids.length === 0 ? 0 : ids[a.index % ids.length];
            if (ids.length === 0) expect.fails.push(leg(w, a.kind === 'cancel' ? 'governance' : a.by, w.p.root.address));
            if (a.kind === 'cancel') {
                return done(await send(w, 'governance', w.p.root, toNano('0.05'), { $$type: 'CancelChange', queryId: 0n, id: BigInt(id) }));
            }
            // waiting out the timelock first (the honest worker acts meanwhile)
            const waited = a.whenDue && ids.length > 0 ? await wait(w, Math.max(0, Number(pending.get(id)!.executeAt) - w.now)) : [];
            const executed = await send(w, a.by, w.p.root, toNano('0.05'), { $$type: 'ExecuteChange', queryId: 0n, id: BigInt(id) });
            return done([...waited, ...executed]);
        }
        case 'unjail':
            return done(
                await send(w, 'governance', w.p.root, toNano('0.05'), {
                    $$type: 'UnjailProvider',
                    queryId: 0n,
                    provider: w.s.providers[a.prov].address,
                }),
            );
        case 'withdrawTreasury': {
            const amount = ((await w.root().treasury()) * BigInt(a.percent)) / 100n;
            (amount > 0n ? expect.succeeds : expect.fails).push(leg(w, 'governance', w.p.root.address));
            return done(
                await send(w, 'governance', w.p.root, toNano('0.05'), {
                    $$type: 'WithdrawTreasury',
                    queryId: 0n,
                    amount,
                    to: w.wallet('governance').address,
                }),
            );
        }
        case 'wait':
            return done(await wait(w, a.seconds));
    }
}

function deadlineOf(w: World, d: Deadline): bigint {
    const max = Number(TEST_PARAMS.maxSessionDuration);
    const offsets: Record<Deadline, number> = {
        past: -1,
        now: 0,
        instant: 1,
        minute: 60,
        hour: 3600,
        day: DAY,
        max,
        overMax: max + 1,
        uint32Max: 0,
    };
    return d === 'uint32Max' ? 0xffffffffn : BigInt(w.now + offsets[d]);
}

// ---- workers ----

// Serving a request: the enclave signs the next cumulative receipt and hands it to the client.
// The honest worker serves only open sessions before their deadline and within their budget; the
// dishonest one signs whatever it is asked.
function serve(w: World, slot: Slot, state: Awaited<ReturnType<World['session']>>, tokensIn: bigint, tokensOut: bigint) {
    if (!state?.terms) return;
    const inc = w.incarnation(slot, state.openedAt);
    const next = { tokensIn: (inc.latest?.tokensIn ?? 0n) + tokensIn, tokensOut: (inc.latest?.tokensOut ?? 0n) + tokensOut };
    if (slot.prov === HONEST) {
        const t = state.terms;
        const amount = (next.tokensIn * t.prices.prompt + next.tokensOut * t.prices.completion) / 1_000_000n;
        if (state.status !== SESSION_OPEN || w.now > Number(state.deadline) || amount > state.budget) return;
    }
    const seqno = Math.max(0, ...inc.receipts.map((r) => r.seqno)) + 1;
    inc.latest = w.sign(slot, state, seqno, next.tokensIn, next.tokensOut);
}

async function claimWith(w: World, slot: Slot, party: Party, r: Signed) {
    return send(w, party, slot.contract, CLAIM_VALUE, { $$type: 'ClaimUsage', queryId: 0n, signature: r.signature, receipt: r.receipt });
}

// The latest receipt, or a zero acknowledgement if the enclave signed nothing yet.
function latestOrAck(w: World, slot: Slot, state: NonNullable<Awaited<ReturnType<World['session']>>>): Signed {
    const inc = w.incarnation(slot, state.openedAt);
    if (!inc.latest) inc.latest = w.sign(slot, state, 1, 0n, 0n);
    return inc.latest;
}

// The honest worker claims what it has not claimed yet (acknowledging a session it has not served
// yet with a zero receipt). Its claims must go through.
async function honestClaim(w: World, slot: Slot, party: Party = 'owner0') {
    const state = await w.session(slot);
    if (!isOpenOrClosing(state)) return [];
    const r = latestOrAck(w, slot, state!);
    if (BigInt(r.seqno) <= state!.seqno) return [];
    const transactions = await claimWith(w, slot, party, r);
    const after = await w.session(slot);
    if (after?.seqno !== BigInt(r.seqno)) {
        throw new Error(
            `the honest worker's claim of seqno ${r.seqno} (${r.amount} nanotons) was refused by ${slotName(slot)} at ${w.now}`,
        );
    }
    return transactions;
}

export function slotName(slot: Slot) {
    return `session(client ${slot.client}, provider ${slot.prov}, nonce ${slot.nonce})`;
}

// Time passes. Before any claim window of an honest session closes, its worker acknowledges or
// claims, at the last second it may: the laziest honest worker.
async function wait(w: World, seconds: number) {
    const target = w.now + seconds;
    const transactions: BlockchainTransaction[] = [];
    for (;;) {
        let earliest: { slot: Slot; end: number } | undefined;
        for (const slot of w.s.slots.filter((x) => x.prov === HONEST)) {
            const state = await w.session(slot);
            if (!isOpenOrClosing(state)) continue;
            const inc = w.incarnation(slot, state!.openedAt);
            const pending = state!.seqno === 0n || (inc.latest !== undefined && BigInt(inc.latest.seqno) > state!.seqno);
            const end = windowEnd(state!);
            if (pending && end < target && (!earliest || end < earliest.end)) earliest = { slot, end };
        }
        if (!earliest) break;
        if (earliest.end > w.now) w.p.blockchain.now = earliest.end;
        transactions.push(...(await honestClaim(w, earliest.slot)));
    }
    w.p.blockchain.now = target;
    // both workers keep their enclave attested (a jailed provider's too: after the jail)
    for (const prov of [HONEST, DISHONEST]) {
        const held = await w.provider(prov).attestation();
        if (held && Number(held.validUntil) <= w.now + 3600 && Number(held.issuedAt) < w.now) {
            transactions.push(...(await submitProof(w, prov, ownerParty(prov), 'fresh')));
        }
    }
    return transactions;
}

async function claim(w: World, a: Extract<Action, { kind: 'claim' }>, expect: Expectation): Promise<Step> {
    const slot = await resolve(w, a.s, SERVING);
    const state = await w.session(slot);
    const party: Party = a.by === 'owner' ? ownerParty(slot.prov) : 'stranger';
    if (!state?.terms) return { transactions: [], expect };
    if (slot.prov === HONEST || a.receipt === 'latest') {
        // the honest worker (or anyone relaying its receipt) claims only what it really served
        if (slot.prov === HONEST) return { transactions: await honestClaim(w, slot, party), expect };
        return { transactions: await claimWith(w, slot, party, latestOrAck(w, slot, state)), expect };
    }
    // the dishonest worker's bad receipts: none of them may pay anything
    const inc = w.incarnation(slot, state.openedAt);
    const seqno = Math.max(Number(state.seqno), ...inc.receipts.map((r) => r.seqno)) + 1;
    const tIn = inc.latest?.tokensIn ?? 0n;
    const tOut = (inc.latest?.tokensOut ?? 0n) + 1000n;
    const terms = state.terms;
    let r: Signed;
    switch (a.receipt) {
        case 'forgedKey':
            r = w.sign(slot, state, seqno, tIn, tOut, { key: STRANGER_KEY });
            break;
        case 'amountMismatch':
            r = w.sign(slot, state, seqno, tIn, tOut, {
                amount: (tIn * terms.prices.prompt + tOut * terms.prices.completion) / 1_000_000n + 1n,
            });
            break;
        case 'overBudget': {
            const price = terms.prices.completion > 0n ? terms.prices.completion : terms.prices.prompt;
            const extra = ((state.budget + 1n) * 1_000_000n) / price + 1n;
            r =
                terms.prices.completion > 0n
                    ? w.sign(slot, state, seqno, tIn, tOut + extra)
                    : w.sign(slot, state, seqno, tIn + extra, tOut);
            break;
        }
        case 'stale':
            r = w.sign(slot, state, Number(state.seqno), tIn, tOut);
            break;
        case 'otherSession': {
            const other = w.slot(slot.client, slot.prov, 1 - slot.nonce);
            r = w.sign(slot, state, seqno, tIn, tOut, { session: other.contract.address });
            break;
        }
        case 'wrongOpenedAt':
            r = w.sign(slot, state, seqno, tIn, tOut, { openedAt: state.openedAt - 1n });
            break;
        case 'wrongNetwork':
            r = w.sign(slot, state, seqno, tIn, tOut, { globalId: GLOBAL_ID_TESTNET });
            break;
    }
    expect.fails.push(leg(w, party, slot.contract.address));
    return { transactions: await claimWith(w, slot, party, r), expect };
}

async function openLate(w: World, a: Extract<Action, { kind: 'openLate' }>, expect: Expectation): Promise<Step> {
    const slot = w.slot(a.s.client, a.s.prov, a.s.nonce);
    w.acted = slot;
    const client = w.wallet(clientParty(slot.client));
    const state = await w.session(slot);
    if (state && state.status !== 0n) return { transactions: [], expect };
    const body = beginCell()
        .store(
            storeOpenSession({
                $$type: 'OpenSession',
                queryId: 0n,
                modelKey: modelKey(MODEL),
                deadline: BigInt(w.now + 1),
                clientKeyHash: clientKeyHashOf(Buffer.alloc(32, 0xc1)),
            }),
        )
        .endCell();
    const transfer = client.createTransfer({
        messages: [internal({ to: slot.contract.address, value: ton(a.ton), init: slot.contract.init, body, bounce: true })],
    });
    // the client's wallet, the Session (OpenSession) and the Provider (LockCollateral) run; the
    // Provider's answer waits in the network
    const chain = await w.p.blockchain.sendMessageIter(external({ to: client.address, body: transfer }), { allowParallel: true });
    const transactions: BlockchainTransaction[] = [];
    for (let i = 0; i < 3; i++) {
        const next = await chain.next();
        if (next.done) break;
        transactions.push(next.value);
    }
    transactions.push(...(await wait(w, a.delay)));
    const cancelled = a.cancel && a.delay >= Number(OPENING_TIMEOUT);
    if (cancelled) {
        const outcome = await finalizeOutcome(w, slot.prov, await w.session(slot));
        (outcome.ok ? expect.succeeds : expect.fails).push(leg(w, clientParty(slot.client), slot.contract.address));
        if (outcome.ok) expect.finalized.push(slot.contract.address);
        transactions.push(
            ...(await send(w, clientParty(slot.client), slot.contract, GENEROUS, { $$type: 'FinalizeSession', queryId: 0n })),
        );
    }
    for (let next = await chain.next(); !next.done; next = await chain.next()) transactions.push(next.value);
    return { transactions, expect };
}

async function report(w: World, a: Extract<Action, { kind: 'report' }>, expect: Expectation): Promise<Step> {
    // a reporter holding a real pair reports the session it belongs to
    const slot = await resolve(
        w,
        a.s,
        SERVING,
        (x, state) => a.pair === 'real' && state.terms !== null && w.realPair(x, state) !== undefined,
    );
    const state = await w.session(slot);
    const reporter = roleParty(a.by, slot);
    if (!state?.terms) return { transactions: [], expect };
    const inc = w.incarnation(slot, state.openedAt);
    const real = w.realPair(slot, state);
    let pair: [Signed, Signed];
    if (a.pair === 'real' && real) {
        pair = real;
        if (state.equivocationReported) expect.fails.push(leg(w, reporter, slot.contract.address));
        else {
            expect.succeeds.push(leg(w, reporter, slot.contract.address));
            expect.slash[slot.prov] = await equivocationOutcome(w, slot.prov, state, reporter, clientParty(slot.client));
        }
    } else {
        const some = inc.receipts.find((r) => !real || r !== real[0]) ?? latestOrAck(w, slot, state);
        const another = inc.receipts.find((r) => r.seqno !== some.seqno);
        if (a.pair === 'forgedKey') {
            pair = [
                w.sign(slot, state, some.seqno, 1n, 1n, { key: STRANGER_KEY }),
                w.sign(slot, state, some.seqno, 2n, 2n, { key: STRANGER_KEY }),
            ];
        } else if (a.pair === 'differentSeqno' && another) pair = [some, another];
        else pair = [some, some];
        expect.fails.push(leg(w, reporter, slot.contract.address));
    }
    const [first, second] = pair;
    return {
        transactions: await send(w, reporter, slot.contract, GENEROUS, {
            $$type: 'ReportEquivocation',
            queryId: 0n,
            first: first.receipt,
            firstSignature: first.signature,
            second: second.receipt,
            secondSignature: second.signature,
        }),
        expect,
    };
}

// A revocation proof: of the dishonest provider's current attestation ('current'), of an
// issued-at just before it ('stale'), of the honest provider's ('honest', which verifiers never
// sign), or the last verifier-signed one again ('replay').
async function revocationProof(w: World, names: RevocationNames, prov = DISHONEST, signers: 'threshold' | 'one' | 'unknown' = 'threshold') {
    if (names === 'replay' && w.lastRevocation) return { ...w.lastRevocation, valid: await validSigners(w, w.lastRevocation.signers) };
    const target = names === 'honest' ? HONEST : prov;
    const attestation = await w.provider(target).attestation();
    const issuedAt = BigInt(Math.max(0, attestation ? Number(attestation.issuedAt) - (names === 'stale' ? 1 : 0) : 0));
    const proof = buildRevocationProof({
        globalId: w.p.globalId,
        root: w.p.root.address,
        provider: w.s.providers[target].address,
        signingKey: w.s.enclaves[target].signing.publicKey,
        attestationIssuedAt: Number(issuedAt),
        issuedAt: w.now,
        nonce: BigInt(w.transactions.length),
    });
    const { keys, threshold } = await w.currentVerifiers();
    const signing =
        names === 'honest' || signers === 'unknown' ? [STRANGER_KEY] : signers === 'one' ? keys.slice(0, 1) : keys.slice(0, threshold);
    const revocation: Revocation = {
        proof,
        signatures: signatures(proof, signing),
        signers: signing,
        names: { provider: w.s.providers[target].address, key: key256(w.s.enclaves[target].signing.publicKey), issuedAt },
    };
    const valid = await validSigners(w, signing);
    if (valid) w.lastRevocation = revocation;
    return { ...revocation, valid };
}

// Root accepts a proof signed by at least `threshold` distinct keys of its current set.
async function validSigners(w: World, keys: KeyPair[]) {
    const { keys: current, threshold } = await w.currentVerifiers();
    return keys.length > 0 && keys.length >= threshold && keys.every((k) => current.includes(k));
}

async function revoke(w: World, a: Extract<Action, { kind: 'revoke' }>, expect: Expectation): Promise<Step> {
    const slot = await resolve(w, a.s, SERVING);
    const reporter = roleParty(a.by, slot);
    const r = await revocationProof(w, a.names, DISHONEST, a.signers);
    const body = { $$type: 'SubmitRevocation', queryId: 0n, proof: r.proof, signatures: r.signatures };
    if (a.to === 'provider') {
        const prov = slot.prov;
        const provider = w.s.providers[prov];
        if (!r.names.provider.equals(provider.address)) expect.fails.push(leg(w, reporter, provider.address));
        else if (r.valid && (await revocationApplies(w, prov, r.names))) {
            const { slashed, reward } = await stakeSlash(w, prov, 'revocation');
            expect.slash[prov] = slashed;
            grant(w, reporter, reward);
            w.revoked.add(`${prov}@${r.names.issuedAt}`);
        }
        return { transactions: await send(w, reporter, provider, GENEROUS, body), expect };
    }
    const state = await w.session(slot);
    if (!sessionTakesRevocation(w, slot.prov, state, r.names)) expect.fails.push(leg(w, reporter, slot.contract.address));
    else if (r.valid) expect.finalized.push(slot.contract.address); // ended at once; not a timeout: nothing slashed
    return { transactions: await send(w, reporter, slot.contract, GENEROUS, body), expect };
}

async function attest(w: World, a: Extract<Action, { kind: 'attest' }>, expect: Expectation): Promise<Step> {
    const by: Party = a.by === 'owner' ? ownerParty(a.prov) : 'stranger';
    const held = await w.provider(a.prov).attestation();
    if (a.proof === 'replay' || a.proof === 'future' || a.proof === 'otherProvider') expect.attestationKept = { prov: a.prov, held };
    if (a.proof === 'replay') expect.fails.push(leg(w, by, w.s.providers[a.prov].address));
    return { transactions: await submitProof(w, a.prov, by, a.proof), expect };
}

// An attestation proof for `prov`'s enclave, signed by enough current verifiers (or not), sent by
// `by` to `prov`'s Provider.
async function submitProof(w: World, prov: number, by: Party, variant: Extract<Action, { kind: 'attest' }>['proof']) {
    const held = await w.provider(prov).attestation();
    const { keys, threshold } = await w.currentVerifiers();
    const named = variant === 'otherProvider' ? 1 - prov : prov;
    const fields = proofFields(w.p, w.s.providers[named].address, w.s.enclaves[named], { nonce: BigInt(w.transactions.length) });
    if (variant === 'replay') fields.issuedAt = Number(held?.issuedAt ?? 0);
    if (variant === 'future') {
        fields.issuedAt = w.now + 1000;
        fields.validUntil = w.now + 3600;
    }
    const signers = variant === 'oneSigner' ? keys.slice(0, 1) : keys.slice(0, Math.max(1, threshold));
    const proof = signedProof(fields, signers);
    return send(w, by, w.s.providers[prov], toNano('0.2'), { $$type: 'SubmitAttestation', queryId: 0n, ...proof });
}

async function forgeProvider(w: World, a: Extract<Action, { kind: 'forgeProvider' }>, expect: Expectation): Promise<Step> {
    const provider = w.s.providers[a.prov];
    const forger = w.wallet(a.by).address;
    const client = w.wallet('client0').address;
    const amount = ton(a.ton) * 100n;
    const params = paramsCell(TEST_PARAMS);
    let body: unknown;
    switch (a.msg) {
        case 'LockCollateral':
            body = {
                $$type: 'LockCollateral',
                queryId: 0n,
                client: forger,
                nonce: 0n,
                budget: amount,
                modelKey: modelKey(MODEL),
                deadline: BigInt(w.now + DAY),
            };
            break;
        case 'ReleaseCollateral':
            body = {
                $$type: 'ReleaseCollateral',
                queryId: 0n,
                client,
                nonce: 0n,
                collateral: amount,
                settled: 0n,
                timedOut: true,
                payer: client,
            };
            break;
        case 'SlashForEquivocation':
            body = { $$type: 'SlashForEquivocation', queryId: 0n, client, nonce: 0n, reporter: forger, compensationCap: amount };
            break;
        case 'RegistrationConfirmed':
            body = { $$type: 'RegistrationConfirmed', queryId: 0n, stake: amount, params };
            break;
        case 'AttestationVerified': {
            const fields = proofFields(w.p, provider.address, { signing: STRANGER_KEY, encryption: Buffer.alloc(32, 1) });
            body = {
                $$type: 'AttestationVerified',
                queryId: 0n,
                excessTo: forger,
                verifierEpoch: 0n,
                validUntil: BigInt(w.now + DAY),
                params,
                proof: signedProof(fields, [STRANGER_KEY]).proof,
            };
            break;
        }
        case 'RevocationVerified':
            body = {
                $$type: 'RevocationVerified',
                queryId: 0n,
                reporter: forger,
                proof: (await revocationProof(w, 'current', a.prov, 'unknown')).proof,
            };
            break;
        case 'Unjail':
            body = { $$type: 'Unjail', queryId: 0n, excessTo: forger };
            break;
    }
    expect.fails.push(leg(w, a.by, provider.address));
    return { transactions: await send(w, a.by, provider, ton(a.ton), body), expect };
}

async function forgeRoot(w: World, a: Extract<Action, { kind: 'forgeRoot' }>, expect: Expectation): Promise<Step> {
    const forger = w.wallet(a.by).address;
    let body: unknown;
    switch (a.msg) {
        case 'RegisterProvider':
            body = {
                $$type: 'RegisterProvider',
                queryId: 0n,
                stake: toNano('1000'),
                owner: forger,
                totalStake: toNano('1000'),
                firstTime: true,
            };
            break;
        case 'VerifyAttestation': {
            const { keys, threshold } = await w.currentVerifiers();
            const proof = signedProof(
                proofFields(w.p, w.s.providers[HONEST].address, w.s.enclaves[HONEST]),
                keys.slice(0, Math.max(1, threshold)),
            );
            body = { $$type: 'VerifyAttestation', queryId: 0n, excessTo: forger, ...proof };
            break;
        }
        case 'SetParams':
            body = { $$type: 'SetParams', queryId: 0n, params: { ...TEST_PARAMS, revocationSlashBps: 2000n } };
            break;
        case 'AddVerifier':
            body = { $$type: 'AddVerifier', queryId: 0n, publicKey: key256(STRANGER_KEY.publicKey) };
            break;
        case 'RemoveVerifier':
            body = { $$type: 'RemoveVerifier', queryId: 0n, publicKey: key256(VERIFIER_KEYS[0].publicKey) };
            break;
        case 'SetThreshold':
            body = { $$type: 'SetThreshold', queryId: 0n, threshold: 1n };
            break;
        case 'AllowMeasurement':
            body = { $$type: 'AllowMeasurement', queryId: 0n, measurement: 0x5eedn };
            break;
        case 'WithdrawMeasurement':
            body = { $$type: 'WithdrawMeasurement', queryId: 0n, measurement: key256(MEASUREMENT) };
            break;
        case 'CancelChange':
            body = { $$type: 'CancelChange', queryId: 0n, id: 0n };
            break;
        case 'WithdrawTreasury':
            body = { $$type: 'WithdrawTreasury', queryId: 0n, amount: 1n, to: forger };
            break;
        case 'UnjailProvider':
            body = { $$type: 'UnjailProvider', queryId: 0n, provider: w.s.providers[DISHONEST].address };
            break;
        case 'ProposeOwner':
            body = { $$type: 'ProposeOwner', queryId: 0n, newOwner: forger };
            break;
        case 'AcceptOwnership':
            body = { $$type: 'AcceptOwnership', queryId: 0n };
            break;
    }
    expect.fails.push(leg(w, a.by, w.p.root.address));
    return { transactions: await send(w, a.by, w.p.root, toNano('0.2'), body), expect };
}

async function propose(w: World, change: Change, expect: Expectation): Promise<Step> {
    let body: unknown;
    switch (change.kind) {
        case 'params': {
            const p = { ...(await w.root().params()) };
            for (const [k, v] of Object.entries(change.params)) {
                const key = k as keyof Omit<ProtocolParams, '$$type'>;
                p[key] = key === 'minProviderStake' ? toNano(v) : BigInt(v);
            }
            if (!change.valid) {
                p.collateralBps = 5001n; // above MAX_COLLATERAL_BPS
                expect.fails.push(leg(w, 'governance', w.p.root.address));
            }
            body = { $$type: 'SetParams', queryId: 0n, params: p };
            break;
        }
        case 'addVerifier':
            body = { $$type: 'AddVerifier', queryId: 0n, publicKey: key256(VERIFIER_KEYS[3].publicKey) };
            break;
        case 'removeVerifier':
            body = { $$type: 'RemoveVerifier', queryId: 0n, publicKey: key256(VERIFIER_KEYS[change.index].publicKey) };
            break;
        case 'threshold':
            body = { $$type: 'SetThreshold', queryId: 0n, threshold: BigInt(change.threshold) };
            break;
        case 'allowMeasurement':
            body = { $$type: 'AllowMeasurement', queryId: 0n, measurement: BigInt(change.seed) };
            break;
        case 'withdrawMeasurement':
            body = { $$type: 'WithdrawMeasurement', queryId: 0n, measurement: key256(MEASUREMENT) };
            break;
    }
    return { transactions: await send(w, 'governance', w.p.root, toNano('0.05'), body), expect };
}
