// Finding providers from the chain. Root counts registrations (provider_count) and deploys an index
// entry per provider (contracts/provider_entry.tact): entry n, at initOf ProviderEntry(root, n),
// names the n-th provider. ProviderDirectory reads the entries, a bounded number at a time, and
// keeps them (an entry never changes), so finding every provider ever registered takes reads in
// proportion to the number of providers, never to the length of Root's history, and a second look
// reads only the count and the entries added since.
//
// registeredProviders reads the same registrations from Root's events instead, for callers that
// hold the transactions anyway (the sandbox, an indexer).
import { Address, Transaction } from '@ton/core';
import { Root, loadProviderRegisteredEvent, providerEntryFor } from '../wrappers';
import { ChainAccess, onChain } from '../protocol/chain';
import { mapBounded } from '../protocol/map-bounded';

export { mapBounded };

const PROVIDER_REGISTERED = 0xc0c09007;

/** How ProviderDirectory reads the chain: reads at a time, and how long Root's provider count is reused. */
export interface DirectoryOptions {
    concurrency?: number; // chain reads at a time (default 8)
    countCacheMs?: number; // how long Root's provider count is reused (default 60 s)
}

/**
 * Every provider registered under a Root, read from Root's index entries a bounded number at a time and kept: a second
 * look reads only Root's count and the entries added since.
 */
export class ProviderDirectory {
    private entries: Address[] = []; // entry n is entries[n - 1]
    private count: { value: number; at: number } | undefined;

    constructor(
        private readonly chain: ChainAccess,
        readonly root: Address,
        private readonly o: DirectoryOptions = {},
    ) {}

    // Every provider registered under Root, in registration order.
    async providers(): Promise<Address[]> {
        const count = await this.providerCount();
        const missing = Array.from({ length: Math.max(0, count - this.entries.length) }, (_, i) => this.entries.length + 1 + i);
        const read = await mapBounded(missing, this.o.concurrency ?? 8, (n) => this.entry(n));
        // Entries are deployed in order; one not there yet (its deployment still in flight) ends
        // the list for now, and the next look reads from it again.
        for (const provider of read) {
            if (!provider) break;
            this.entries.push(provider);
        }
        return [...this.entries];
    }

    private async providerCount(): Promise<number> {
        if (this.count && Date.now() - this.count.at < (this.o.countCacheMs ?? 60_000)) return this.count.value;
        const value = Number(
            await onChain(this.chain, "read Root's provider count", () => this.chain.open(Root.fromAddress(this.root)).getProviderCount()),
        );
        this.count = { value, at: Date.now() };
        return value;
    }

    private async entry(n: number): Promise<Address | null> {
        const entry = await providerEntryFor(this.root, n);
        return onChain(this.chain, `read provider index entry ${n}`, async () => {
            if ((await this.chain.accountState(entry.address)) !== 'active') return null;
            return this.chain.open(entry).getProvider();
        });
    }
}

/** Provider addresses announced by Root in these transactions, oldest first, without repeats. */
export function registeredProviders(transactions: Iterable<Transaction>, root: Address): Address[] {
    const seen = new Map<string, Address>();
    for (const tx of transactions) {
        if (!tx.inMessage || tx.inMessage.info.type !== 'internal' || !tx.inMessage.info.dest.equals(root)) continue;
        for (const m of tx.outMessages.values()) {
            if (m.info.type !== 'external-out') continue;
            const body = m.body.beginParse();
            if (body.remainingBits < 32 || body.preloadUint(32) !== PROVIDER_REGISTERED) continue;
            const event = loadProviderRegisteredEvent(body);
            seen.set(event.provider.toRawString(), event.provider);
        }
    }
    return [...seen.values()];
}
