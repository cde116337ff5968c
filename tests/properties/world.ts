// The world the property suites act in: one Root, four provider owners, two clients, a stranger and
// governance, every Session address they can meet, and the off-chain parts the model plays itself
// (the enclaves that sign receipts, the honest provider's worker, the verifiers that sign proofs).
//
// Providers, by index:
//   0 HONEST     registered, attested; its worker acknowledges every session it accepted and claims
//                every receipt it served before the claim window ends, at the last moment it may
//                (the weakest behaviour that is still honest); it never signs two receipts with
//                one seqno. The property: it never loses stake.
//   1 DISHONEST  registered, attested; its worker does what the random actions say: stays silent,
//                claims forged or over-budget receipts, signs conflicting receipts.
//   2 GHOST      the Provider address of an owner who never registered holds a contract that
//                swallows every message (LockCollateral is never answered: the escrow waits).
//   3 NOBODY     the Provider address of an owner who never registered is empty (LockCollateral
//                bounces: the Session refunds and deletes itself).
import { Blockchain, BlockchainSnapshot, BlockchainTransaction, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, Cell, toNano } from '@ton/core';
import { KeyPair } from '@ton/crypto';
import {
    Provider,
    SESSION_CLOSING,
    SESSION_OPEN,
    Session,
    buildUsageReceipt,
    loadSessionSettlement,
    providerForOwner,
    sessionFor,
    signUsageReceipt,
} from '../../wrappers';
import { Enclave, Ledger, Protocol, attestedProvider, deployProtocol, installStandIn, seededKey } from '../../testkit';

export const HONEST = 0;
export const DISHONEST = 1;
export const GHOST = 2;
export const NOBODY = 3;
export const PROVIDERS = 4;
export const CLIENTS = 2;
export const NONCES = 2;

export const PARTIES = ['client0', 'client1', 'stranger', 'owner0', 'owner1', 'governance'] as const;
export type Party = (typeof PARTIES)[number];

// Verifier keys the model can sign with: Root starts with a, b, c (threshold 2); governance may
// add d.
export const VERIFIER_KEYS: KeyPair[] = ['verifier-a', 'verifier-b', 'verifier-c', 'verifier-d'].map(seededKey);
export const STRANGER_KEY = seededKey('stranger-signing-key');

export interface Slot {
    client: number;
    prov: number;
    nonce: number;
    contract: SandboxContract<Session>;
}

export type SessionState = Awaited<ReturnType<Session['getState']>>;

// A receipt the enclave of provider 0 or 1 signed.
export interface Signed {
    seqno: number;
    tokensIn: bigint;
    tokensOut: bigint;
    amount: bigint;
    receipt: Cell;
    signature: Buffer;
}

// What the enclave signed for one opening of a Session address (receipts carry its opened_at).
export interface Incarnation {
    receipts: Signed[];
    latest?: Signed; // the worker's current cumulative receipt
}

export type RevocationNames = 'current' | 'stale' | 'replay' | 'honest';

// A revocation proof and what it names.
export interface Revocation {
    proof: Cell;
    signatures: Cell;
    signers: KeyPair[];
    names: { provider: Address; key: bigint; issuedAt: bigint };
}

// Everything a run starts from: deployed once per test file, restored before every run.
export interface Setup {
    p: Protocol;
    snapshot: BlockchainSnapshot;
    wallets: Record<Party, SandboxContract<TreasuryContract>>;
    owners: Address[]; // by provider index
    providers: SandboxContract<Provider>[]; // by provider index (2 and 3 are not Providers)
    enclaves: Enclave[]; // of providers 0 and 1
    slots: Slot[];
}

export async function makeSetup(): Promise<Setup> {
    const p = await deployProtocol();
    const honest = await attestedProvider(p, 'honest');
    const dishonest = await attestedProvider(p, 'dishonest');
    const ghost = await p.blockchain.treasury('ghost-owner');
    const nobody = await p.blockchain.treasury('nobody-owner');
    const owners = [honest.owner.address, dishonest.owner.address, ghost.address, nobody.address];
    const providers = [
        honest.provider,
        dishonest.provider,
        p.blockchain.openContract(await providerForOwner(p.root.address, ghost.address)),
        p.blockchain.openContract(await providerForOwner(p.root.address, nobody.address)),
    ];
    await installStandIn(p.blockchain, providers[GHOST].address, 'swallow');
    const wallets: Record<Party, SandboxContract<TreasuryContract>> = {
        client0: await p.blockchain.treasury('client-0'),
        client1: await p.blockchain.treasury('client-1'),
        stranger: await p.blockchain.treasury('stranger'),
        owner0: honest.owner,
        owner1: dishonest.owner,
        governance: p.governance,
    };
    const slots: Slot[] = [];
    for (let client = 0; client < CLIENTS; client++)
        for (let prov = 0; prov < PROVIDERS; prov++)
            for (let nonce = 0; nonce < NONCES; nonce++) {
                const clientAddress = wallets[clientParty(client)].address;
                const contract = p.blockchain.openContract(await sessionFor(p.root.address, owners[prov], clientAddress, BigInt(nonce)));
                slots.push({ client, prov, nonce, contract });
            }
    return { p, snapshot: p.blockchain.snapshot(), wallets, owners, providers, enclaves: [honest.enclave, dishonest.enclave], slots };
}

export const clientParty = (client: number): Party => (client === 0 ? 'client0' : 'client1');
export const ownerParty = (prov: number): Party => (prov === HONEST ? 'owner0' : 'owner1');

// Getter results, cached until the account's next transaction (getters cost ~10 ms each; a step
// touches a few accounts).
export class ChainView {
    private cache = new Map<string, { lt: bigint; values: Map<string, unknown> }>();
    constructor(private blockchain: Blockchain) {}

    async read<T>(address: Address, name: string, get: () => Promise<T>): Promise<T> {
        const lt = (await this.blockchain.getContract(address)).lastTransactionLt;
        const raw = address.toRawString();
        let entry = this.cache.get(raw);
        if (!entry || entry.lt !== lt) {
            entry = { lt, values: new Map() };
            this.cache.set(raw, entry);
        }
        if (!entry.values.has(name)) entry.values.set(name, await get());
        return entry.values.get(name) as T;
    }

    async balance(address: Address) {
        return (await this.blockchain.getContract(address)).balance;
    }

    async active(address: Address) {
        return (await this.blockchain.getContract(address)).accountState?.type === 'active';
    }
}

// One run: the restored chain, what the model knows, and the running accounts of the invariants.
export class World {
    readonly p: Protocol;
    readonly view: ChainView;
    readonly ledger: Ledger;
    readonly transactions: BlockchainTransaction[] = [];
    readonly book = new Map<string, Incarnation>();
    readonly startBalance = new Map<Party, bigint>();
    // What the invariants allow a party to gain: reporter rewards of real slashes, and for a
    // client the compensation of a real equivocation in its session.
    readonly allowance = new Map<Party, bigint>(PARTIES.map((x) => [x, 0n]));
    // Value that parties other than the client sent into a client's Sessions and the client may
    // get (a top-up by someone else, a bounce's value, a failed report's...; not a claim's, a
    // finalize's or a revocation's, whose unspent value goes back to their senders).
    readonly donations = [0n, 0n];
    // By Session (raw address): what refused messages left in it, too small to pay for their bounce
    // (the network keeps such a remainder in the account, not the contract)
    readonly unbounced = new Map<string, bigint>();
    // Network fees each party's wallet paid for its own transactions.
    readonly fees = new Map<Party, bigint>(PARTIES.map((x) => [x, 0n]));
    // Provider 0's stake + unbonding, and each provider's slashed total, after the last step.
    honestBonded = 0n;
    readonly slashedSoFar = [0n, 0n];
    readonly lastSeqno = new Map<string, bigint>();
    acted?: Slot; // the session the last action went to (for the outcome counts)
    lastRevocation?: Revocation; // the last verifier-signed revocation, for replays
    readonly revoked = new Set<string>(); // attestations a revocation slashed: `${prov}@${issuedAt}`
    // Root's, the Providers' and live Sessions' own funds (balance less what they owe), by raw
    // address (Sessions: address@openedAt): nobody else's message may make them pay (issue 11,
    // item 7), only storage fees.
    readonly ownFunds = new Map<string, bigint>();

    constructor(readonly s: Setup) {
        this.p = s.p;
        this.view = new ChainView(s.p.blockchain);
        this.ledger = new Ledger(s.p.blockchain);
    }

    static async start(s: Setup): Promise<World> {
        await s.p.blockchain.loadFrom(s.snapshot);
        const w = new World(s);
        await w.ledger.snapshot(w.allAccounts());
        for (const party of PARTIES) w.startBalance.set(party, await w.view.balance(s.wallets[party].address));
        w.honestBonded = await w.bonded(HONEST);
        for (const address of w.fundedContracts()) w.ownFunds.set(address.toRawString(), await w.ownFundsOf(address));
        return w;
    }

    allAccounts(): Address[] {
        return [
            this.p.root.address,
            ...PARTIES.map((x) => this.s.wallets[x].address),
            ...this.s.owners,
            ...this.s.providers.map((x) => x.address),
            ...this.s.slots.map((x) => x.contract.address),
        ];
    }

    fundedContracts(): Address[] {
        return [this.p.root.address, this.s.providers[HONEST].address, this.s.providers[DISHONEST].address];
    }

    // Balance less what the contract owes: Root's treasury, a Provider's stake and unbonding.
    async ownFundsOf(address: Address): Promise<bigint> {
        const balance = await this.view.balance(address);
        if (address.equals(this.p.root.address)) return balance - (await this.root().treasury());
        const prov = this.s.providers.findIndex((x) => x.address.equals(address));
        return balance - (await this.bonded(prov));
    }

    get now(): number {
        return this.p.blockchain.now!;
    }

    wallet(party: Party) {
        return this.s.wallets[party];
    }

    slot(client: number, prov: number, nonce: number): Slot {
        return this.s.slots.find((x) => x.client === client && x.prov === prov && x.nonce === nonce)!;
    }

    // ---- cached reads ----

    async session(slot: Slot): Promise<SessionState | undefined> {
        if (!(await this.view.active(slot.contract.address))) return undefined;
        return this.view.read(slot.contract.address, 'state', () => slot.contract.getState());
    }

    provider(prov: number) {
        const c = this.s.providers[prov];
        const r = <T>(name: string, get: () => Promise<T>) => this.view.read(c.address, name, get);
        return {
            contract: c,
            stake: () => r('stake', () => c.getStake()),
            locked: () => r('locked', () => c.getLocked()),
            unbonding: () => r('unbonding', () => c.getUnbonding()),
            stats: () => r('stats', () => c.getStats()),
            status: () => r('status', () => c.getStatus()),
            params: () => r('params', () => c.getParams()),
            attestation: () => r('attestation', () => c.getAttestation()),
        };
    }

    // Bonded stake plus unbonding requests: what a slash can take.
    async bonded(prov: number) {
        const v = this.provider(prov);
        return (await v.stake()) + (await v.unbonding()).total;
    }

    root() {
        const r = this.p.root;
        const read = <T>(name: string, get: () => Promise<T>) => this.view.read(r.address, name, get);
        return {
            treasury: () => read('treasury', () => r.getTreasury()),
            verifierSet: () => read('verifierSet', () => r.getVerifierSet()),
            pendingChanges: () => read('pending', () => r.getPendingChanges()),
            params: () => read('params', () => r.getParams()),
        };
    }

    // The verifier keys the model holds that are in Root's current set, and the threshold.
    async currentVerifiers(): Promise<{ keys: KeyPair[]; threshold: number }> {
        const set = await this.root().verifierSet();
        const keys = VERIFIER_KEYS.filter((k) => set.keys.has(BigInt('0x' + k.publicKey.toString('hex'))));
        return { keys, threshold: Number(set.threshold) };
    }

    // ---- receipts the enclaves signed ----

    incarnation(slot: Slot, openedAt: bigint): Incarnation {
        const key = `${slot.contract.address.toRawString()}@${openedAt}`;
        let inc = this.book.get(key);
        if (!inc) {
            inc = { receipts: [] };
            this.book.set(key, inc);
        }
        return inc;
    }

    // The enclave of `slot`'s provider signs a receipt for the Session's current opening, at the
    // prices of its terms unless `amount` says otherwise. Every signature is recorded: two of
    // them with one seqno are an equivocation anyone may report.
    sign(
        slot: Slot,
        state: SessionState,
        seqno: number,
        tokensIn: bigint,
        tokensOut: bigint,
        o: { amount?: bigint; key?: KeyPair; globalId?: number; session?: Address; openedAt?: bigint } = {},
    ): Signed {
        const terms = state.terms!;
        const amount = o.amount ?? (tokensIn * terms.prices.prompt + tokensOut * terms.prices.completion) / 1_000_000n;
        const receipt = buildUsageReceipt({
            globalId: o.globalId ?? this.p.globalId,
            session: o.session ?? slot.contract.address,
            openedAt: Number(o.openedAt ?? state.openedAt),
            seqno,
            lastRequestAt: 0,
            promptTokens: tokensIn,
            cachedTokens: 0n,
            completionTokens: tokensOut,
            reasoningTokens: 0n,
            amountDue: amount,
            resultsHash: BigInt(seqno) * 1_000_003n + tokensIn + tokensOut,
        });
        const key = o.key ?? this.s.enclaves[slot.prov].signing;
        const signed: Signed = { seqno, tokensIn, tokensOut, amount, receipt, signature: signUsageReceipt(receipt, key.secretKey) };
        // Signed by the real enclave for this network: recorded under the Session and opening it
        // names, if that Session belongs to the same provider (whose terms carry this key).
        const target = o.session ? this.s.slots.find((x) => x.contract.address.equals(o.session!)) : slot;
        if (!o.key && o.globalId === undefined && target && target.prov === slot.prov) {
            this.incarnation(target, o.openedAt ?? state.openedAt).receipts.push(signed);
        }
        return signed;
    }

    // Two different receipts with one seqno that the enclave signed for this opening, if any.
    realPair(slot: Slot, state: SessionState): [Signed, Signed] | undefined {
        const receipts = this.incarnation(slot, state.openedAt).receipts;
        for (const a of receipts)
            for (const b of receipts) if (a.seqno === b.seqno && !a.receipt.hash().equals(b.receipt.hash())) return [a, b];
        return undefined;
    }

    settlementOf(state: SessionState) {
        return loadSessionSettlement(state.terms!.settlement.beginParse());
    }
}

// Claims end closeGracePeriod after the deadline, or after the close if that came first.
export function windowEnd(state: SessionState): number {
    const end = state.status === SESSION_CLOSING && state.closedAt < state.deadline ? state.closedAt : state.deadline;
    return Number(end + state.terms!.closeGracePeriod);
}

export const isOpenOrClosing = (state: SessionState | undefined) =>
    state !== undefined && (state.status === SESSION_OPEN || state.status === SESSION_CLOSING);

export const CLAIM_VALUE = toNano('0.05');
