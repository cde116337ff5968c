// How every component reaches the chain (SDK, worker, verifier, scripts): one small interface with
// implementations for the embedded @ton/sandbox chain (demo, tests), a @ton/ton TonClient
// (testnet, mainnet) and a Blueprint script's connection. All open the same typed wrappers; sends
// go through a @ton/core Sender (a wallet), and callers confirm an outcome by reading state back,
// which works the same on all of them.
import { Address, Contract, OpenedContract, Sender, Transaction } from '@ton/core';
import { TonClient, WalletContractV4 } from '@ton/ton';
import { mnemonicToPrivateKey } from '@ton/crypto';
import type { Blockchain } from '@ton/sandbox';
import type { NetworkProvider } from '@ton/blueprint';

export type AccountState = 'active' | 'uninit' | 'frozen' | 'nonexist';

export interface ChainAccess {
    open<T extends Contract>(contract: T): OpenedContract<T>;
    accountState(address: Address): Promise<AccountState>;
    // The account's transactions with a logical time above `afterLt`, oldest first.
    transactions(address: Address, afterLt: bigint): Promise<Transaction[]>;
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
        // (the sandbox keeps every transaction; its own paging by lt and hash is not usable)
        transactions: async (a, afterLt) =>
            (await blockchain.getTransactions(a)).filter((t) => t.lt > afterLt).sort((x, y) => (x.lt < y.lt ? -1 : x.lt > y.lt ? 1 : 0)),
        now: () => blockchain.now ?? Math.floor(Date.now() / 1000),
        describe: 'the embedded sandbox chain',
    };
}

// A TON HTTP API (toncenter v2) client; `apiKey` raises the endpoint's rate limit.
export function tonClient(endpoint: string, apiKey?: string, timeoutMs = 15_000): TonClient {
    return new TonClient({ endpoint, apiKey, timeout: timeoutMs });
}

// The v4 wallet of a 24-word mnemonic, as a Sender (it reads its seqno and signs each transfer).
export async function mnemonicWallet(client: TonClient, mnemonic: string[]): Promise<{ address: Address; sender: Sender }> {
    const key = await mnemonicToPrivateKey(mnemonic);
    const wallet = client.open(WalletContractV4.create({ workchain: 0, publicKey: key.publicKey }));
    return { address: wallet.address, sender: wallet.sender(key.secretKey) };
}

export function tonClientChain(client: TonClient, endpoint: string): ChainAccess {
    return {
        open: (c) => client.open(c),
        accountState: async (a) => {
            const s = (await client.getContractState(a)).state;
            return s === 'uninitialized' ? 'uninit' : s;
        },
        transactions: async (a, afterLt) => {
            // newest first, 100 a page, down to afterLt (the API repeats the cursor transaction)
            const out: Transaction[] = [];
            let cursor: { lt: string; hash: string } | undefined;
            for (;;) {
                const page = await client.getTransactions(a, { limit: 100, ...(cursor ?? {}), to_lt: afterLt.toString(), archival: true });
                const fresh = (cursor ? page.slice(1) : page).filter((t) => t.lt > afterLt);
                out.push(...fresh);
                if (fresh.length === 0 || page.length < 100) break;
                const last = page[page.length - 1];
                cursor = { lt: last.lt.toString(), hash: last.hash().toString('base64') };
            }
            return out.reverse();
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
        transactions: () => Promise.reject(new Error('a Blueprint script does not read transactions')),
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
