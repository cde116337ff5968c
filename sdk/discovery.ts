// Finding providers from the chain. Root keeps no list of providers (no map that grows with the
// number of users); every registration emits a ProviderRegisteredEvent from Root instead, which
// this module reads out of Root's transactions (from an indexer, TonClient.getTransactions, or
// the sandbox).
import { Address, Transaction } from '@ton/core';
import { TonClient } from '@ton/ton';
import { loadProviderRegisteredEvent } from '../wrappers';

const PROVIDER_REGISTERED = 0xc0c09007;

// Provider addresses announced by Root in these transactions, oldest first, without repeats.
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

// Pages through Root's history with a TonClient (newest first, `limit` transactions at most).
export async function registeredProvidersFromTonClient(client: TonClient, root: Address, limit = 1000): Promise<Address[]> {
    const all: Transaction[] = [];
    let cursor: { lt: string; hash: string } | undefined;
    while (all.length < limit) {
        // from a cursor the API returns the cursor transaction again: ask for one more
        const want = Math.min(100, limit - all.length + (cursor ? 1 : 0));
        const page = await client.getTransactions(root, { limit: want, ...(cursor ?? {}), archival: true });
        const fresh = (cursor ? page.slice(1) : page).slice(0, limit - all.length);
        if (fresh.length === 0) break;
        all.push(...fresh);
        const last = page[page.length - 1];
        cursor = { lt: last.lt.toString(), hash: last.hash().toString('base64') };
    }
    return registeredProviders(all.reverse(), root);
}
