// Property-based test: random sequences of operations by several clients and providers (open,
// top-up, valid and forged claims, close, finalize, time passing past deadlines, stake, unstake,
// withdraw, equivocation reports), with the protocol's invariants checked after every step:
//
// - TON is conserved across all accounts (balances change by exactly minus the network's fees);
// - every live session holds at least its unclaimed budget, every Provider its stake and
//   unbonding, Root its treasury: nothing was paid twice or out of someone else's funds;
// - a forged receipt is never accepted, and `claimed` only ever equals the amount of a receipt
//   the enclave signed for that session;
// - locked collateral never exceeds stake;
// - a session's seqno never decreases.
//
// fast-check prints the seed and the shrunk sequence of a failing run; rerun it with
// FC_SEED=<seed> npx jest tests/properties.spec.ts
import { SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, toNano } from '@ton/core';
import fc from 'fast-check';
import { SESSION_FINALIZED, SESSION_NEW, Session, amountDue, sessionFor } from '../wrappers';
import {
    AttestedProvider,
    DAY,
    Ledger,
    PRICES,
    Protocol,
    attestedProvider,
    deployProtocol,
    makeEnclave,
    sendOpenSession,
    sendReportEquivocation,
    signedReceipt,
} from './helpers';

const CLIENTS = 3;
const PROVIDERS = 2;
const NONCES = 2; // sessions per client-provider pair

type Op =
    | { kind: 'open'; client: number; provider: number; nonce: number; budget: number }
    | { kind: 'topUp'; session: number; amount: number }
    | { kind: 'claim'; session: number; tokensIn: number; tokensOut: number; forged: boolean }
    | { kind: 'close'; session: number }
    | { kind: 'finalize'; session: number; byClient: boolean }
    | { kind: 'wait'; seconds: number }
    | { kind: 'stake'; provider: number; amount: number }
    | { kind: 'unstake'; provider: number; percent: number }
    | { kind: 'withdraw'; provider: number }
    | { kind: 'equivocate'; session: number };

// An index into the sessions an open was attempted on (modulo their number), so that operations
// mostly hit live escrows.
const sessionIndex = fc.nat({ max: 1000 });
const op: fc.Arbitrary<Op> = fc.oneof(
    {
        weight: 4,
        arbitrary: fc.record({
            kind: fc.constant('open' as const),
            client: fc.integer({ min: 0, max: CLIENTS - 1 }),
            provider: fc.integer({ min: 0, max: PROVIDERS - 1 }),
            nonce: fc.integer({ min: 0, max: NONCES - 1 }),
            budget: fc.integer({ min: 1, max: 40 }),
        }),
    },
    {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant('topUp' as const), session: sessionIndex, amount: fc.integer({ min: 1, max: 5 }) }),
    },
    {
        weight: 5,
        arbitrary: fc.record({
            kind: fc.constant('claim' as const),
            session: sessionIndex,
            tokensIn: fc.integer({ min: 0, max: 20_000_000 }),
            tokensOut: fc.integer({ min: 0, max: 20_000_000 }),
            forged: fc.boolean(),
        }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('close' as const), session: sessionIndex }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('finalize' as const), session: sessionIndex, byClient: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('wait' as const), seconds: fc.integer({ min: 60, max: 2 * DAY }) }) },
    {
        weight: 1,
        arbitrary: fc.record({
            kind: fc.constant('stake' as const),
            provider: fc.integer({ min: 0, max: PROVIDERS - 1 }),
            amount: fc.integer({ min: 1, max: 50 }),
        }),
    },
    {
        weight: 1,
        arbitrary: fc.record({
            kind: fc.constant('unstake' as const),
            provider: fc.integer({ min: 0, max: PROVIDERS - 1 }),
            percent: fc.integer({ min: 1, max: 100 }),
        }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('withdraw' as const), provider: fc.integer({ min: 0, max: PROVIDERS - 1 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('equivocate' as const), session: sessionIndex }) },
);

interface World {
    p: Protocol;
    providers: AttestedProvider[];
    clients: SandboxContract<TreasuryContract>[];
    sessions: { session: SandboxContract<Session>; client: number; provider: number; nonce: number }[];
    // per session: amounts of receipts the enclave signed, and the running token totals
    signed: Map<string, Set<bigint>>;
    totals: Map<string, { tokensIn: bigint; tokensOut: bigint; seqno: number }>;
    lastSeqno: Map<string, bigint>;
    opened: number[]; // indexes into `sessions` that an open was attempted on
    ledger: Ledger;
    other: SandboxContract<TreasuryContract>;
}

async function makeWorld(): Promise<World> {
    const p = await deployProtocol();
    const providers: AttestedProvider[] = [];
    for (let i = 0; i < PROVIDERS; i++) providers.push(await attestedProvider(p, `prop-owner-${i}`));
    const clients: SandboxContract<TreasuryContract>[] = [];
    for (let i = 0; i < CLIENTS; i++) clients.push(await p.blockchain.treasury(`prop-client-${i}`));
    const other = await p.blockchain.treasury('prop-reporter');
    const sessions: World['sessions'] = [];
    for (let c = 0; c < CLIENTS; c++)
        for (let v = 0; v < PROVIDERS; v++)
            for (let n = 0; n < NONCES; n++) {
                const session = p.blockchain.openContract(
                    await sessionFor(p.root.address, providers[v].owner.address, clients[c].address, BigInt(n)),
                );
                sessions.push({ session, client: c, provider: v, nonce: n });
            }
    const ledger = new Ledger(p.blockchain);
    await ledger.snapshot([
        p.root.address,
        p.governance.address,
        other.address,
        ...providers.flatMap((x) => [x.provider.address, x.owner.address]),
        ...clients.map((c) => c.address),
        ...sessions.map((s) => s.session.address),
    ]);
    return { p, providers, clients, sessions, signed: new Map(), totals: new Map(), lastSeqno: new Map(), opened: [], ledger, other };
}

async function isActive(w: World, address: Address) {
    return (await w.p.blockchain.getContract(address)).accountState?.type === 'active';
}

function target(w: World, index: number) {
    return w.opened.length === 0 ? undefined : w.sessions[w.opened[index % w.opened.length]];
}

async function apply(w: World, o: Op) {
    const { p } = w;
    if ('session' in o && target(w, o.session) === undefined) return [];
    switch (o.kind) {
        case 'open': {
            const index = w.sessions.findIndex((x) => x.client === o.client && x.provider === o.provider && x.nonce === o.nonce);
            if (!w.opened.includes(index)) w.opened.push(index);
            const r = await sendOpenSession(p, w.providers[o.provider].owner.address, {
                client: `prop-client-${o.client}`,
                nonce: BigInt(o.nonce),
                value: toNano(o.budget),
            });
            return r.result.transactions;
        }
        case 'topUp': {
            const s = target(w, o.session)!;
            return (
                await s.session.send(w.clients[s.client].getSender(), { value: toNano(o.amount) }, { $$type: 'TopUpSession', queryId: 0n })
            ).transactions;
        }
        case 'claim': {
            const s = target(w, o.session)!;
            const key = s.session.address.toString();
            const t = w.totals.get(key) ?? { tokensIn: 0n, tokensOut: 0n, seqno: 0 };
            const next = { tokensIn: t.tokensIn + BigInt(o.tokensIn), tokensOut: t.tokensOut + BigInt(o.tokensOut), seqno: t.seqno + 1 };
            const prov = w.providers[s.provider];
            const enclave = o.forged ? makeEnclave('forger') : prov.enclave;
            const receipt = signedReceipt(p, s.session.address, enclave, next.seqno, next.tokensIn, next.tokensOut);
            if (!o.forged) {
                w.totals.set(key, next);
                const set = w.signed.get(key) ?? new Set<bigint>();
                set.add(amountDue(next.tokensIn, next.tokensOut, PRICES));
                w.signed.set(key, set);
            }
            const r = await s.session.send(
                prov.owner.getSender(),
                { value: toNano('0.05') },
                { $$type: 'ClaimUsage', queryId: 0n, ...receipt },
            );
            if (o.forged) {
                const tx = r.transactions.find((x) => x.inMessage?.info.dest?.toString() === s.session.address.toString());
                if (tx && tx.description.type === 'generic') expect(tx.description.aborted).toBe(true);
            }
            return r.transactions;
        }
        case 'close': {
            const s = target(w, o.session)!;
            return (
                await s.session.send(w.clients[s.client].getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n })
            ).transactions;
        }
        case 'finalize': {
            const s = target(w, o.session)!;
            const from = o.byClient ? w.clients[s.client] : w.other;
            return (await s.session.send(from.getSender(), { value: toNano('0.2') }, { $$type: 'FinalizeSession', queryId: 0n }))
                .transactions;
        }
        case 'wait':
            p.blockchain.now! += o.seconds;
            return [];
        case 'stake': {
            const prov = w.providers[o.provider];
            return (await prov.provider.send(prov.owner.getSender(), { value: toNano(o.amount) }, { $$type: 'Stake', queryId: 0n }))
                .transactions;
        }
        case 'unstake': {
            const prov = w.providers[o.provider];
            const free = await prov.provider.getFreeStake();
            const amount = (free * BigInt(o.percent)) / 100n;
            return (
                await prov.provider.send(
                    prov.owner.getSender(),
                    { value: toNano('0.05') },
                    { $$type: 'RequestUnstake', queryId: 0n, amount },
                )
            ).transactions;
        }
        case 'withdraw': {
            const prov = w.providers[o.provider];
            return (await prov.provider.send(prov.owner.getSender(), { value: toNano('0.05') }, { $$type: 'WithdrawStake', queryId: 0n }))
                .transactions;
        }
        case 'equivocate': {
            const s = target(w, o.session)!;
            const prov = w.providers[s.provider];
            const a = signedReceipt(p, s.session.address, prov.enclave, 1000, 0n, 1n);
            const b = signedReceipt(p, s.session.address, prov.enclave, 1000, 0n, 2n);
            return (await sendReportEquivocation(s.session, w.other, a, b)).transactions;
        }
    }
}

async function checkInvariants(w: World, allTransactions: Parameters<Ledger['expectConserved']>[0]) {
    const { p } = w;
    await w.ledger.expectConserved(allTransactions);
    const rootBalance = (await p.blockchain.getContract(p.root.address)).balance;
    expect(rootBalance).toBeGreaterThanOrEqual(await p.root.getTreasury());
    for (const prov of w.providers) {
        const stake = await prov.provider.getStake();
        const unbonding = (await prov.provider.getUnbonding()).total;
        expect(await prov.provider.getLocked()).toBeLessThanOrEqual(stake);
        expect((await p.blockchain.getContract(prov.provider.address)).balance).toBeGreaterThanOrEqual(stake + unbonding);
    }
    for (const s of w.sessions) {
        if (!(await isActive(w, s.session.address))) continue;
        const key = s.session.address.toString();
        const status = await s.session.getStatus();
        const claimed = await s.session.getClaimed();
        const seqno = await s.session.getSeqno();
        expect(seqno).toBeGreaterThanOrEqual(w.lastSeqno.get(key) ?? 0n);
        w.lastSeqno.set(key, seqno);
        if (claimed > 0n) expect(w.signed.get(key)?.has(claimed)).toBe(true);
        if (status !== SESSION_FINALIZED && status !== SESSION_NEW) {
            const budget = await s.session.getBudget();
            expect(claimed).toBeLessThanOrEqual(budget);
            expect((await p.blockchain.getContract(s.session.address)).balance).toBeGreaterThanOrEqual(budget - claimed);
        }
    }
}

describe('protocol invariants under random operations', () => {
    it('hold after every step', async () => {
        await fc.assert(
            fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 25 }), async (ops) => {
                const w = await makeWorld();
                const all: Parameters<Ledger['expectConserved']>[0] = [];
                for (const o of ops) {
                    all.push(...(await apply(w, o)));
                    await checkInvariants(w, all);
                }
            }),
            {
                numRuns: Number(process.env.FC_RUNS ?? 12),
                seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined,
                endOnFailure: true,
            },
        );
    }, 600_000);
});
