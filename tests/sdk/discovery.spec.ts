// Finding providers from Root's ProviderRegisteredEvents (sdk/discovery.ts), from a list of
// transactions and through a TonClient's paged history.
import { Transaction } from '@ton/core';
import { TonClient } from '@ton/ton';
import { registeredProviders, registeredProvidersFromTonClient, tonClientChain } from '../../sdk';
import { deployProtocol, sendRegister } from '../../testkit';

async function threeRegistrations() {
    const p = await deployProtocol();
    const txs: Transaction[] = [];
    const providers = [];
    for (const name of ['owner-a', 'owner-b', 'owner-c']) {
        const owner = await p.blockchain.treasury(name);
        const { provider, result } = await sendRegister(p, owner, 150_000_000_000n);
        txs.push(...result.transactions);
        providers.push(provider.address.toRawString());
    }
    // a registration sent twice (refused the second time) must not list the provider twice
    const again = await sendRegister(p, await p.blockchain.treasury('owner-a'), 150_000_000_000n);
    txs.push(...again.result.transactions);
    return { p, txs, providers };
}

describe('provider discovery', () => {
    it('lists each provider Root announced, once, in registration order', async () => {
        const { p, txs, providers } = await threeRegistrations();
        expect(registeredProviders(txs, p.root.address).map((a) => a.toRawString())).toEqual(providers);
        // events of another contract do not count
        const provider = (await sendRegister(p, await p.blockchain.treasury('owner-d'), 150_000_000_000n)).provider;
        expect(registeredProviders(txs, provider.address)).toEqual([]);
    });

    it('pages through Root history with a TonClient (newest first, the cursor transaction repeated)', async () => {
        const { p, txs, providers } = await threeRegistrations();
        const rootTxs = txs.filter((t) => t.inMessage?.info.type === 'internal' && t.inMessage.info.dest.equals(p.root.address)).reverse();
        const calls: { limit: number; lt?: string }[] = [];
        const fake = {
            async getTransactions(_a: unknown, o: { limit: number; lt?: string; hash?: string }) {
                calls.push({ limit: o.limit, lt: o.lt });
                const start = o.lt ? rootTxs.findIndex((t) => t.lt.toString() === o.lt) : 0;
                return rootTxs.slice(start, start + Math.min(o.limit, 2)); // a server with small pages
            },
        } as unknown as TonClient;
        const found = await registeredProvidersFromTonClient(fake, p.root.address);
        expect(found.map((a) => a.toRawString())).toEqual(providers);
        expect(calls.length).toBeGreaterThan(2); // it followed the cursor
        // with a limit, only the newest transactions are read
        for (let limit = 1; limit <= rootTxs.length; limit++) {
            const newest = registeredProviders(rootTxs.slice(0, limit).reverse(), p.root.address).map((a) => a.toRawString());
            const read = await registeredProvidersFromTonClient(fake, p.root.address, limit);
            expect(read.map((a) => a.toRawString())).toEqual(newest);
        }
    });

    it('maps TonClient account states and names the endpoint', async () => {
        const fake = { getContractState: async () => ({ state: 'uninitialized' }) } as unknown as TonClient;
        const chain = tonClientChain(fake, 'https://example.invalid/api');
        expect(await chain.accountState(null as never)).toBe('uninit');
        expect(chain.describe).toContain('https://example.invalid/api');
    });
});
