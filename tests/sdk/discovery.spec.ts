// Finding providers (sdk/discovery.ts): through Root's index of ProviderEntry contracts, and from
// Root's ProviderRegisteredEvents in a list of transactions.
import { Address, Transaction, beginCell, toNano } from '@ton/core';
import '@ton/test-utils';
import { ChainAccess, ProviderDirectory, failoverChain, mapBounded, registeredProviders, sandboxChain } from '../../sdk';
import { fakeToncenter } from '../../testkit/fake-toncenter';
import { ERR_ALREADY_INDEXED, ERR_NOT_ROOT, providerEntryFor, storeIndexProvider } from '../../wrappers';
import { internal } from '@ton/sandbox';
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

    it("finds every provider ever registered through Root's index, reading only what is new the next time", async () => {
        const { p, providers } = await threeRegistrations();
        // a Root whose history is long: many other transactions since the registrations
        const other = await p.blockchain.treasury('busy');
        for (let i = 0; i < 30; i++)
            await p.root.send(
                other.getSender(),
                { value: toNano('0.05') },
                { $$type: 'DepositTreasury', queryId: 0n, amount: 1n, reason: 0n },
            );
        let reads = 0;
        const chain = sandboxChain(p.blockchain);
        const counted: ChainAccess = { ...chain, accountState: (a) => (reads++, chain.accountState(a)) };
        const directory = new ProviderDirectory(counted, p.root.address, { concurrency: 2, countCacheMs: 0 });
        expect((await directory.providers()).map((a) => a.toRawString())).toEqual(providers);
        expect(reads).toBe(3); // one entry each, whatever the history
        const late = (await sendRegister(p, await p.blockchain.treasury('owner-late'), 150_000_000_000n)).provider;
        expect((await directory.providers()).map((a) => a.toRawString())).toEqual([...providers, late.address.toRawString()]);
        expect(reads).toBe(4); // only the new entry
        // the entry names its provider and number; nobody but Root can write one
        const entry = p.blockchain.openContract(await providerEntryFor(p.root.address, 1));
        expect((await entry.getProvider())!.toRawString()).toBe(providers[0]);
        expect(await entry.getNumber()).toBe(1n);
        const r = await entry.send(other.getSender(), { value: toNano('0.05') }, { $$type: 'IndexProvider', provider: other.address });
        expect(r.transactions).toHaveTransaction({ to: entry.address, exitCode: Number(ERR_NOT_ROOT) });
        expect((await entry.getProvider())!.toRawString()).toBe(providers[0]);
        // Root names a provider once: a second IndexProvider, even from Root, is refused
        const again = await p.blockchain.sendMessage(
            internal({
                from: p.root.address,
                to: entry.address,
                value: toNano('0.05'),
                body: beginCell()
                    .store(storeIndexProvider({ $$type: 'IndexProvider', provider: other.address }))
                    .endCell(),
            }),
        );
        expect(again.transactions).toHaveTransaction({ to: entry.address, exitCode: Number(ERR_ALREADY_INDEXED) });
        expect((await entry.getProvider())!.toRawString()).toBe(providers[0]);
        // a registration repeated by a known provider adds no entry
        expect(await p.root.getProviderCount()).toBe(4n);
    });

    it('runs at most `concurrency` reads at once', async () => {
        const { p, providers } = await threeRegistrations();
        const chain = sandboxChain(p.blockchain);
        let running = 0;
        let most = 0;
        const slow: ChainAccess = {
            ...chain,
            accountState: async (a) => {
                most = Math.max(most, ++running);
                await new Promise((r) => setTimeout(r, 20));
                running -= 1;
                return chain.accountState(a);
            },
        };
        expect(await new ProviderDirectory(slow, p.root.address, { concurrency: 2 }).providers()).toHaveLength(providers.length);
        expect(most).toBe(2);
        expect(await mapBounded([1, 2, 3, 4, 5], 3, async (x) => x * 2)).toEqual([2, 4, 6, 8, 10]);
    });

    it("maps a TON API's account states and names the endpoint", async () => {
        const fake = await fakeToncenter({ accountState: 'uninitialized' });
        const chain = failoverChain([{ url: fake.url }]);
        expect(await chain.accountState(new Address(0, Buffer.alloc(32, 1)))).toBe('uninit');
        expect(chain.describe).toContain(fake.url);
        await fake.close();
    });
});
