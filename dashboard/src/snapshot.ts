// One picture of a Cocoon network, read through any toncenter-compatible endpoint: Root's
// configuration (verifier set, allowlist, pending governance, treasury), every registered Provider
// and, from the newest transactions of Root and of each Provider, the sessions opened and the
// fees deposited hour by hour. Everything here is plain JSON (amounts as nanoton strings), what
// GET /api/snapshot answers and the page draws.
import { Address, Cell, Dictionary, Transaction } from '@ton/core';
import {
    CHANGE_ADD_VERIFIER,
    CHANGE_PARAMS,
    CHANGE_REMOVE_VERIFIER,
    CHANGE_THRESHOLD,
    CHANGE_WITHDRAW_MEASUREMENT,
    DEPOSIT_PROTOCOL_FEE,
    DEPOSIT_SLASH,
    GLOBAL_ID_MAINNET,
    PROVIDER_STATUS_NAMES,
    Provider,
    Root,
    SESSION_STATUS_NAMES,
    TCB_STATUS_NAMES,
    loadProtocolParams,
    loadSessionAccepted,
    loadTreasuryDepositEvent,
} from '../../wrappers';
import { ChainAccess, onChain } from '../../protocol/chain';
import { readProvider, readSession } from '../../protocol/state';
import { ProviderDirectory, mapBounded } from '../../sdk/discovery';

const HOUR = 3600;

/** A ChainAccess that can also read an account's newest transactions, however long its history (failoverChain's recentTransactions). */
export type DashboardChain = ChainAccess & { recentTransactions(address: Address, limit: number): Promise<Transaction[]> };

/** How much one snapshot reads; every field has a default. */
export interface SnapshotLimits {
    maxProviders?: number; // providers read in full (default 100); the rest are only counted
    transactionsPerAccount?: number; // newest transactions of Root and of each Provider (default 100, one page)
    recentSessions?: number; // sessions listed (default 12)
    hours?: number; // the chart's window (default 24)
    concurrency?: number; // chain reads at a time (default 4)
}

export interface NetworkSnapshot {
    takenAt: number; // unix ms
    network: 'mainnet' | 'testnet' | string;
    root: RootView;
    providers: ProviderView[];
    providersNotShown: number; // registered beyond maxProviders
    sessions: SessionView[]; // the newest sessions the read transactions name, newest first
    activity: Activity;
}

export interface RootView {
    address: string;
    owner: string;
    globalId: number;
    treasury: string;
    providerCount: number;
    params: Record<string, string>;
    verifiers: { count: number; threshold: number; epoch: number; keys: string[] };
    measurements: string[]; // allowlisted, hex
    pendingChanges: { id: number; kind: string; value: string; executeAt: number }[];
}

export interface ProviderView {
    address: string;
    owner: string;
    status: string;
    stake: string;
    locked: string;
    freeStake: string;
    jailedUntil: number;
    attestation: {
        issuedAt: number;
        validUntil: number;
        measurement: string;
        modelHash: string;
        tcbStatus: string;
        invalidatedAt: number;
        revoked: boolean;
    } | null;
    listing: {
        gpuModel: string;
        gpuCount: number;
        vramGb: number;
        endpoint: string;
        models: {
            name: string;
            modelHash: string;
            prices: { prompt: string; cachedPrompt: string; completion: string; reasoning: string };
        }[];
    } | null;
    record: { sessionsServed: number; settled: string; slashed: string; slashCount: number; timeoutCount: number; jailCount: number };
}

export interface SessionView {
    address: string;
    provider: string;
    client: string;
    status: string;
    budget: string;
    claimed: string;
    openedAt: number;
}

/**
 * Sessions opened and fees deposited per hour over the last `hours`: sessions from the
 * SessionAccepted messages in the Providers' newest transactions, fees and slashes from the
 * TreasuryDepositEvents in Root's. `complete` is false when some account had more transactions in
 * the window than were read: its older hours then show less than happened.
 */
export interface Activity {
    hourStart: number; // unix s of the first bucket
    buckets: { start: number; sessions: number; fees: string; slashed: string }[];
    transactionsRead: number;
    complete: boolean;
}

const CHANGE_KINDS: Record<string, string> = {
    [CHANGE_PARAMS.toString()]: 'set parameters',
    [CHANGE_ADD_VERIFIER.toString()]: 'add verifier',
    [CHANGE_REMOVE_VERIFIER.toString()]: 'remove verifier',
    [CHANGE_THRESHOLD.toString()]: 'set threshold',
    [CHANGE_WITHDRAW_MEASUREMENT.toString()]: 'withdraw measurement',
};

const hex256 = (v: bigint) => v.toString(16).padStart(64, '0');

/**
 * Reads snapshots of one Root's network. Keeps what never changes: the provider index
 * (sdk/discovery.ts) and finalized sessions.
 */
export class NetworkReader {
    private readonly directory: ProviderDirectory;
    private readonly finalizedSessions = new Map<string, SessionView>();

    constructor(
        private readonly chain: DashboardChain,
        readonly root: Address,
        private readonly limits: SnapshotLimits = {},
    ) {
        this.directory = new ProviderDirectory(chain, root, { concurrency: limits.concurrency ?? 4, countCacheMs: 0 });
    }

    async snapshot(): Promise<NetworkSnapshot> {
        const concurrency = this.limits.concurrency ?? 4;
        const root = await this.readRoot();
        const testOnly = root.globalId !== GLOBAL_ID_MAINNET;
        const show = (a: Address) => a.toString({ testOnly });
        const all = await this.directory.providers();
        const shown = all.slice(0, this.limits.maxProviders ?? 100);
        const providers = (await mapBounded(shown, concurrency, (p) => this.readProviderView(p, show))).filter(
            (p): p is ProviderView => p !== null,
        );
        const [rootTxs, ...providerTxs] = await mapBounded([this.root, ...shown], concurrency, (a) => this.recentTransactions(a));
        const activity = this.activity(rootTxs, providerTxs);
        const opened = providerTxs
            .flat()
            .flatMap((tx) => sessionsAccepted(tx).map((session) => ({ session, at: tx.now, lt: tx.lt })))
            .sort((a, b) => (a.lt < b.lt ? 1 : a.lt > b.lt ? -1 : 0))
            .slice(0, this.limits.recentSessions ?? 12);
        const sessions = (await mapBounded(opened, concurrency, (o) => this.readSessionView(o.session, show))).filter(
            (s): s is SessionView => s !== null,
        );
        return {
            takenAt: Date.now(),
            network: root.globalId === GLOBAL_ID_MAINNET ? 'mainnet' : root.globalId === -3 ? 'testnet' : `global id ${root.globalId}`,
            root,
            providers,
            providersNotShown: all.length - shown.length,
            sessions,
            activity,
        };
    }

    private async readRoot(): Promise<RootView> {
        const root = this.chain.open(Root.fromAddress(this.root));
        return onChain(this.chain, `read Root ${this.root.toString()}`, async () => {
            if ((await this.chain.accountState(this.root)) !== 'active') {
                throw new Error(`no Root is deployed at ${this.root.toString()}`);
            }
            const globalId = Number(await root.getGlobalId());
            const testOnly = globalId !== GLOBAL_ID_MAINNET;
            const set = await root.getVerifierSet();
            const measurements = await root.getMeasurements();
            const pending = await root.getPendingChanges();
            const params = await root.getParams();
            return {
                address: this.root.toString({ testOnly }),
                owner: (await root.getOwner()).toString({ testOnly }),
                globalId,
                treasury: (await root.getTreasury()).toString(),
                providerCount: Number(await root.getProviderCount()),
                params: Object.fromEntries(
                    Object.entries(params)
                        .filter(([k]) => k !== '$$type')
                        .map(([k, v]) => [k, String(v)]),
                ),
                verifiers: {
                    count: Number(set.count),
                    threshold: Number(set.threshold),
                    epoch: Number(set.epoch),
                    keys: keysOf(set.keys).map(hex256),
                },
                measurements: keysOf(measurements).map(hex256),
                pendingChanges: [...pending].map(([id, p]) => ({
                    id: Number(id),
                    kind: CHANGE_KINDS[p.change.kind.toString()] ?? `kind ${p.change.kind}`,
                    value: p.change.kind === CHANGE_THRESHOLD ? p.change.value.toString() : changeValue(p.change),
                    executeAt: Number(p.executeAt),
                })),
            };
        });
    }

    private async readProviderView(address: Address, show: (a: Address) => string): Promise<ProviderView | null> {
        const p = await readProvider(this.chain, address);
        if (!p) return null;
        const opened = this.chain.open(Provider.fromAddress(address));
        // (the summary leaves these two out)
        const [locked, jailedUntil] = await onChain(this.chain, `read the Provider ${address.toString()}`, () =>
            Promise.all([opened.getLocked(), opened.getJailedUntil()]),
        );
        const a = p.attestation;
        return {
            address: show(address),
            owner: show(p.owner),
            status: PROVIDER_STATUS_NAMES[p.status] ?? `status ${p.status}`,
            stake: p.stake.toString(),
            locked: locked.toString(),
            freeStake: p.freeStake.toString(),
            jailedUntil: Number(jailedUntil),
            attestation: a && {
                issuedAt: Number(a.issuedAt),
                validUntil: Number(a.validUntil),
                measurement: hex256(a.measurement),
                modelHash: hex256(a.modelHash),
                tcbStatus: TCB_STATUS_NAMES[Number(a.tcbStatus)] ?? `TCB ${a.tcbStatus}`,
                invalidatedAt: Number(a.invalidatedAt),
                revoked: a.revoked,
            },
            listing: p.listing && {
                gpuModel: p.listing.gpuModel,
                gpuCount: Number(p.listing.gpuCount),
                vramGb: Number(p.listing.vramGb),
                endpoint: p.listing.endpoint,
                models: [...p.listing.models.values()].map((m) => ({
                    name: m.name,
                    modelHash: hex256(m.modelHash),
                    prices: {
                        prompt: m.prices.prompt.toString(),
                        cachedPrompt: m.prices.cachedPrompt.toString(),
                        completion: m.prices.completion.toString(),
                        reasoning: m.prices.reasoning.toString(),
                    },
                })),
            },
            record: {
                sessionsServed: Number(p.stats.sessionsServed),
                settled: p.stats.settled.toString(),
                slashed: p.stats.slashed.toString(),
                slashCount: Number(p.stats.slashCount),
                timeoutCount: Number(p.stats.timeoutCount),
                jailCount: Number(p.stats.jailCount),
            },
        };
    }

    private async readSessionView(address: Address, show: (a: Address) => string): Promise<SessionView | null> {
        const kept = this.finalizedSessions.get(address.toRawString());
        if (kept) return kept;
        const s = await readSession(this.chain, address);
        if (!s) return null;
        const view: SessionView = {
            address: show(address),
            provider: show(s.provider),
            client: show(s.client),
            status: SESSION_STATUS_NAMES[s.status] ?? `status ${s.status}`,
            budget: s.budget.toString(),
            claimed: s.claimed.toString(),
            openedAt: s.openedAt,
        };
        if (view.status === 'finalized') this.finalizedSessions.set(address.toRawString(), view); // (a finalized session never changes)
        return view;
    }

    // The account's newest transactions (at most one page), newest first.
    private async recentTransactions(address: Address): Promise<Transaction[]> {
        return this.chain.recentTransactions(address, this.limits.transactionsPerAccount ?? 100);
    }

    private activity(rootTxs: Transaction[], providerTxs: Transaction[][]): Activity {
        const hours = this.limits.hours ?? 24;
        const limit = this.limits.transactionsPerAccount ?? 100;
        const all = [rootTxs, ...providerTxs];
        // The chain's clock may run ahead of this machine's (a devnet moved forward): the newest transaction counts too.
        const now = Math.max(Math.floor(Date.now() / 1000), ...all.flat().map((t) => t.now));
        const hourStart = (Math.floor(now / HOUR) - hours + 1) * HOUR;
        const buckets = Array.from({ length: hours }, (_, i) => ({ start: hourStart + i * HOUR, sessions: 0, fees: 0n, slashed: 0n }));
        const bucketOf = (t: number) => (t >= hourStart ? buckets[Math.floor((t - hourStart) / HOUR)] : undefined);
        for (const tx of rootTxs) {
            const b = bucketOf(tx.now);
            if (!b) continue;
            for (const deposit of treasuryDeposits(tx)) {
                if (deposit.reason === DEPOSIT_PROTOCOL_FEE) b.fees += deposit.amount;
                else if (deposit.reason === DEPOSIT_SLASH) b.slashed += deposit.amount;
            }
        }
        for (const tx of providerTxs.flat()) {
            const b = bucketOf(tx.now);
            if (b) b.sessions += sessionsAccepted(tx).length;
        }
        // An account read in full (fewer than a page) or back past the window start is complete.
        const complete = all.every((txs) => txs.length < limit || txs[txs.length - 1].now < hourStart);
        return {
            hourStart,
            buckets: buckets.map((b) => ({ ...b, fees: b.fees.toString(), slashed: b.slashed.toString() })),
            transactionsRead: all.reduce((n, txs) => n + txs.length, 0),
            complete,
        };
    }
}

// The message `body` as `load` decodes it (a generated loader, which checks the opcode), or null.
function decoded<T>(load: (s: ReturnType<Cell['beginParse']>) => T, body: Cell): T | null {
    try {
        return load(body.beginParse());
    } catch {
        return null;
    }
}

// The sessions a Provider's transaction accepted (the SessionAccepted messages it sent).
export function sessionsAccepted(tx: Transaction): Address[] {
    const out: Address[] = [];
    for (const m of tx.outMessages.values()) {
        if (m.info.type === 'internal' && decoded(loadSessionAccepted, m.body)) out.push(m.info.dest);
    }
    return out;
}

// The treasury deposits a Root transaction announced (TreasuryDepositEvent).
export function treasuryDeposits(tx: Transaction): { amount: bigint; reason: bigint }[] {
    const out = [];
    for (const m of tx.outMessages.values()) {
        const event = m.info.type === 'external-out' ? decoded(loadTreasuryDepositEvent, m.body) : null;
        if (event) out.push({ amount: event.amount, reason: event.reason });
    }
    return out;
}

function keysOf(d: Dictionary<bigint, unknown> | null): bigint[] {
    return d ? [...d.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)) : [];
}

function changeValue(change: { kind: bigint; value: bigint; params: import('@ton/core').Cell | null }): string {
    if (change.kind === CHANGE_PARAMS && change.params) {
        const p = loadProtocolParams(change.params.beginParse());
        return Object.entries(p)
            .filter(([k]) => k !== '$$type')
            .map(([k, v]) => `${k}=${v}`)
            .join(', ');
    }
    return hex256(change.value);
}
