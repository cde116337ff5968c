// How the SDK and the worker reach the chain: one small interface with two implementations, the
// embedded @ton/sandbox chain (demo, tests) and a @ton/ton TonClient (testnet, mainnet). Both
// open the same typed wrappers; sends go through a @ton/core Sender (a wallet), and callers
// confirm an outcome by reading state back, which works the same on both.
import { Address, Contract, OpenedContract } from '@ton/core';
import { TonClient } from '@ton/ton';
import type { Blockchain } from '@ton/sandbox';
import type { NetworkProvider } from '@ton/blueprint';

export type AccountState = 'active' | 'uninit' | 'frozen' | 'nonexist';

export interface ChainAccess {
    open<T extends Contract>(contract: T): OpenedContract<T>;
    accountState(address: Address): Promise<AccountState>;
    now(): number; // the chain's clock, unix seconds
    describe: string; // names the endpoint in error messages
}

// The chain cannot be read or written: names the endpoint and what to do about it.
export class ChainUnavailable extends Error {
    readonly code = 'chain-unavailable';
    constructor(chain: ChainAccess, what: string, cause: unknown) {
        super(
            `could not ${what} through ${chain.describe}: ${(cause as Error)?.message ?? cause}. ` +
                'Check that the endpoint is up (and the API key, if it needs one), or point to another endpoint.',
        );
        this.name = 'ChainUnavailable';
    }
}

// Runs a chain read or send, turning transport failures into ChainUnavailable.
export async function onChain<T>(chain: ChainAccess, what: string, f: () => Promise<T>): Promise<T> {
    try {
        return await f();
    } catch (e) {
        if (e instanceof ChainUnavailable) throw e;
        throw new ChainUnavailable(chain, what, e);
    }
}

export function sandboxChain(blockchain: Blockchain): ChainAccess {
    return {
        open: <T extends Contract>(c: T) => blockchain.openContract(c) as unknown as OpenedContract<T>,
        accountState: async (a) => (await blockchain.getContract(a)).accountState?.type ?? 'nonexist',
        now: () => blockchain.now ?? Math.floor(Date.now() / 1000),
        describe: 'the embedded sandbox chain',
    };
}

export function tonClientChain(client: TonClient, endpoint: string): ChainAccess {
    return {
        open: (c) => client.open(c),
        accountState: async (a) => {
            const s = (await client.getContractState(a)).state;
            return s === 'uninitialized' ? 'uninit' : s;
        },
        now: () => Math.floor(Date.now() / 1000),
        describe: `the TON API at ${endpoint}`,
    };
}

// A Blueprint script's connection (scripts/): it can tell deployed from not, nothing finer.
export function networkProviderChain(provider: NetworkProvider): ChainAccess {
    return {
        open: (c) => provider.open(c),
        accountState: async (a) => ((await provider.isContractDeployed(a)) ? 'active' : 'nonexist'),
        now: () => Math.floor(Date.now() / 1000),
        describe: `the ${provider.network()} API`,
    };
}

// Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. On the sandbox a
// send has been processed when it returns, so the first check answers.
export async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 2000): Promise<T | undefined> {
    const until = Date.now() + timeoutMs;
    for (;;) {
        const v = await check();
        if (v !== undefined || Date.now() >= until) return v;
        await new Promise((r) => setTimeout(r, intervalMs));
    }
}
