// How every component reaches the chain (SDK, worker, verifier, scripts): one small interface with
// implementations for the embedded @ton/sandbox chain (demo, tests), a @ton/ton TonClient
// (testnet, mainnet) and a Blueprint script's connection. All open the same typed wrappers; sends
// go through a @ton/core Sender (a wallet), and callers confirm an outcome by reading state back,
// which works the same on all of them.
import {
    Address,
    Cell,
    Contract,
    ContractProvider,
    OpenedContract,
    SendMode,
    Sender,
    SenderArguments,
    StateInit,
    Transaction,
    internal,
    openContract,
} from '@ton/core';
import { TonClient, WalletContractV3R2, WalletContractV4, WalletContractV5R1 } from '@ton/ton';
import { mnemonicToPrivateKey } from '@ton/crypto';
import type { Blockchain } from '@ton/sandbox';
import type { NetworkProvider } from '@ton/blueprint';
import { runGetMethod } from './get-method';
import type { Progress } from './progress';

/** A TON account's state: `active` (deployed), `uninit` (a balance but no code), `frozen`, or `nonexist`. */
export type AccountState = 'active' | 'uninit' | 'frozen' | 'nonexist';

/**
 * How a component reads and writes the chain: opens typed contract wrappers, reads account states and
 * transactions, and tells the chain's clock. Implemented by sandboxChain, failoverChain
 * and networkProviderChain.
 */
export interface ChainAccess {
    open<T extends Contract>(contract: T): OpenedContract<T>;
    accountState(address: Address): Promise<AccountState>;
    // The logical time of the account's last transaction (0 for none). It moves whenever the
    // account's state changes, so a reader can tell that what it read is still current with one
    // cheap call instead of running get methods again. Optional: without it, readers read afresh.
    lastTransactionLt?(address: Address): Promise<bigint>;
    // The account's transactions with a logical time above `afterLt`, oldest first.
    transactions(address: Address, afterLt: bigint): Promise<Transaction[]>;
    now(): number; // the chain's clock, unix seconds
    // The time of the newest block an endpoint reported, if any (unix seconds): a second opinion on
    // the clock where the machine's may be wrong. Only ever used to try once more what the chain
    // itself judges (a claim), never to trust an earlier time.
    latestBlockTime?(): number | undefined;
    describe: string; // names the endpoint in error messages
}

/** The chain cannot be read or written: names the endpoint and what to do about it. */
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

/** Runs a chain read or send, turning transport failures into ChainUnavailable. */
export async function onChain<T>(chain: ChainAccess, what: string, f: () => Promise<T>): Promise<T> {
    try {
        return await f();
    } catch (e) {
        if (e instanceof ChainUnavailable) throw e;
        throw new ChainUnavailable(chain, what, e);
    }
}

/** A ChainAccess over the embedded @ton/sandbox chain (demo, tests); its clock is the sandbox's `now` when set. */
export function sandboxChain(blockchain: Blockchain): ChainAccess {
    return {
        open: <T extends Contract>(c: T) => blockchain.openContract(c) as unknown as OpenedContract<T>,
        accountState: async (a) => (await blockchain.getContract(a)).accountState?.type ?? 'nonexist',
        lastTransactionLt: async (a) => (await blockchain.getContract(a)).lastTransactionLt,
        // (the sandbox keeps every transaction; its own paging by lt and hash is not usable)
        transactions: async (a, afterLt) =>
            (await blockchain.getTransactions(a)).filter((t) => t.lt > afterLt).sort((x, y) => (x.lt < y.lt ? -1 : x.lt > y.lt ? 1 : 0)),
        now: () => blockchain.now ?? Math.floor(Date.now() / 1000),
        latestBlockTime: () => blockchain.now ?? Math.floor(Date.now() / 1000),
        describe: 'the embedded sandbox chain',
    };
}

// How long a wallet transfer is valid, on the chain's clock: one not on-chain by then never lands.
const TRANSFER_VALIDITY_SECONDS = 60;
// A node refuses an external message over 65,535 bytes (config param 43's default); a transfer's
// header and, on its first send, the wallet's code take up to about 2 KB of it.
const MAX_TRANSFER_BYTES = 63 * 1024;

/**
 * A Sender that can carry several messages in one wallet transfer (mnemonicWallet's): a worker
 * with many sessions to claim sends them in as many transfers as its wallet needs, not one
 * transfer (and one wait for its seqno to land) per claim.
 */
export interface BatchSender extends Sender {
    readonly maxMessages: number; // in one transfer: 4 for a v3 or v4 wallet, 200 for v5r1
    // Sends `messages` (at most maxMessages, all with the same send mode) in one transfer;
    // resolves once it landed, as `send` does.
    sendMany(messages: SenderArguments[]): Promise<void>;
}

/** Whether `sender` can put several messages in one transfer. */
export const isBatchSender = (sender: Sender): sender is BatchSender => typeof (sender as Partial<BatchSender>).sendMany === 'function';

/**
 * The v4 wallet of a 24-word mnemonic, as a Sender (it reads its seqno and signs each transfer)
 * through `chain` (or a TonClient). Transfers go one at a time, each once the previous one's
 * seqno landed: a v4 wallet signs a transfer with its current seqno, so two sent together (a
 * worker's claim and attestation, a gateway's top-up and a close) would carry the same seqno
 * and the chain would take only one of them, silently. `sendMany` puts several messages in one
 * transfer.
 */
export async function mnemonicWallet(
    chain: ChainAccess,
    mnemonic: string[],
    o: {
        landTimeoutMs?: number;
        pollMs?: number;
        version?: WalletVersion;
        testnet?: boolean;
        progress?: (what: string) => Progress; // shows the wait for each transfer's seqno (a command line's; daemons log their own)
    } = {},
): Promise<{ address: Address; sender: BatchSender }> {
    const key = await mnemonicToPrivateKey(mnemonic);
    const version = o.version ?? 'v4';
    const wallet = chain.open(walletContract(version, key.publicKey, o.testnet ?? false));
    // (v5r1 takes 255 actions, but 255 claims make an external message over the 64 KB a node
    // accepts: about 258 bytes each)
    const maxMessages = version === 'v5r1' ? 200 : 4;
    // What the wallet's own sender does, with the transfer valid until a time on the chain's clock
    // (@ton/ton's uses the machine's: on a chain whose clock is ahead every transfer has expired).
    const sign = async (messages: SenderArguments[]) => {
        await chain.accountState(wallet.address); // (which brings the chain's clock up to date)
        const transfer = (wallet.createTransfer as (a: unknown) => Cell)({
            seqno: await wallet.getSeqno(),
            secretKey: key.secretKey,
            sendMode: messages[0].sendMode ?? SendMode.PAY_GAS_SEPARATELY + (version === 'v5r1' ? SendMode.IGNORE_ERRORS : 0),
            messages: messages.map((m) => internal({ to: m.to, value: m.value, init: m.init, body: m.body, bounce: m.bounce })),
            timeout: chain.now() + TRANSFER_VALIDITY_SECONDS,
        });
        const bytes = transfer.toBoc({ idx: false, crc32: false }).length;
        if (bytes > MAX_TRANSFER_BYTES) {
            throw new RangeError(
                `the transfer is ${bytes} bytes, more than an external message may carry (64 KB with its header and the wallet's code): send fewer or smaller messages`,
            );
        }
        await wallet.send(transfer);
    };
    const transfer = async (messages: SenderArguments[]) => {
        const before = await wallet.getSeqno();
        await sign(messages);
        const what = `Waiting for the wallet's transfer with seqno ${before} to land`;
        const wait = o.progress?.(what);
        let landed: true | undefined;
        try {
            // (a transfer is valid for TRANSFER_VALIDITY_SECONDS: after that it never lands)
            landed = await waitFor(
                async () => ((await wallet.getSeqno()) > before ? true : undefined),
                o.landTimeoutMs ?? 75_000,
                o.pollMs ?? 1000,
            );
        } catch (e) {
            wait?.fail(`${what}: failed`);
            throw e;
        }
        if (!landed) {
            wait?.fail(`${what}: failed`);
            throw new Error(`the wallet's transfer with seqno ${before} did not land: nothing was sent, try again`);
        }
        wait?.succeed();
    };
    let queue: Promise<unknown> = Promise.resolve();
    const queued = (messages: SenderArguments[]) => {
        const mine = queue.then(() => transfer(messages));
        queue = mine.catch(() => {}); // (the next transfer goes on after a failed one)
        return mine;
    };
    const sender: BatchSender = {
        address: wallet.address,
        maxMessages,
        send: (args) => queued([args]),
        sendMany: async (messages) => {
            if (messages.length === 0) return;
            if (messages.length > maxMessages) {
                throw new RangeError(`a ${version} wallet sends at most ${maxMessages} messages in one transfer, not ${messages.length}`);
            }
            if (messages.some((m) => m.sendMode !== messages[0].sendMode)) {
                throw new RangeError('the messages of one transfer share its send mode');
            }
            return queued(messages);
        },
    };
    return { address: wallet.address, sender };
}

/**
 * The wallet versions a mnemonic can drive here (Blueprint's WALLET_VERSION names); v4 is the
 * default of the worker, verifier and gateway. A v5r1 wallet's id names its network, so the same
 * mnemonic has another v5r1 address on testnet.
 */
export const WALLET_VERSIONS = ['v3r2', 'v4', 'v4r2', 'v5r1'] as const;
/** A wallet version a mnemonic can drive: one of WALLET_VERSIONS. */
export type WalletVersion = (typeof WALLET_VERSIONS)[number];

function walletContract(version: WalletVersion, publicKey: Buffer, testnet: boolean) {
    switch (version) {
        case 'v3r2':
            return WalletContractV3R2.create({ workchain: 0, publicKey });
        case 'v4':
        case 'v4r2':
            return WalletContractV4.create({ workchain: 0, publicKey });
        case 'v5r1':
            return WalletContractV5R1.create({
                publicKey,
                walletId: { networkGlobalId: testnet ? -3 : -239, context: { workchain: 0, subwalletNumber: 0, walletVersion: 'v5r1' } },
            });
    }
}

async function accountStateThrough(client: TonClient, a: Address, chainTime?: (unix: number) => void) {
    const c = await client.getContractState(a);
    if (c.timestampt > 0) chainTime?.(c.timestampt); // (toncenter's sync_utime: its latest block's time)
    return {
        state: (c.state === 'uninitialized' ? 'uninit' : c.state) as AccountState,
        lastLt: c.lastTransaction ? BigInt(c.lastTransaction.lt) : 0n,
    };
}

// How far the machine's clock may be from the chain's before the chain's is followed: an
// endpoint's latest block is a few seconds old on a live network, which is no reason to move.
const CLOCK_TOLERANCE_SECONDS = 30;

async function transactionsThrough(client: TonClient, a: Address, afterLt: bigint): Promise<Transaction[]> {
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
}

// ---------------------------------------------------------------------------------------------
// Several endpoints: one down, hanging or behind does not take the service down
// ---------------------------------------------------------------------------------------------

/** One TON HTTP API endpoint for failoverChain: its URL and, optionally, its own API key. */
export interface Endpoint {
    url: string; // a toncenter-style v2 JSON-RPC URL
    apiKey?: string; // sent to this endpoint only
}

/** Timeouts, retries and lag detection of failoverChain; every field has a default. */
export interface FailoverOptions {
    timeoutMs?: number; // one call to one endpoint (default 10 s): a hanging endpoint costs this much once
    rounds?: number; // passes over every endpoint before giving up (default 2)
    backoffMs?: number; // pause between passes; a failed endpoint rests twice as long each time it fails, up to a minute (default 500)
    maxLagBlocks?: number; // an endpoint whose latest masterchain block is this far behind the freshest one is behind (default 12, about a minute)
    lagCheckMs?: number; // how often the endpoints' latest blocks are compared (default 30 s)
    // Development (a devnet whose clock an admin moves): now() follows the latest block time the
    // endpoints report, when it is more than 30 s ahead of the machine's. Never in production: an
    // endpoint would control the time by which a worker gives up its claims and a client finalizes.
    followChainClock?: boolean;
}

interface EndpointState {
    url: string;
    apiKey?: string;
    client: TonClient;
    failures: number;
    restingUntil: number;
    behind: boolean;
    lastError?: string;
}

// What an endpoint answered that any endpoint would answer the same: a get method that throws (a
// contract's exit code) is an answer, not an outage.
const isAnswer = (e: unknown) => /exit_code/.test((e as Error)?.message ?? '');

/**
 * A ChainAccess over several TON HTTP API endpoints. Every call goes to the best endpoint: one
 * that answers, is not resting after a failure and is not behind the others; when it fails or
 * hangs the call moves on to the next, and only when every endpoint failed, `rounds` times with
 * backoff, does it throw ChainUnavailable, naming each endpoint and what it did. Sends are safe to
 * repeat on another endpoint: a wallet message carries its seqno, and the wallet accepts it once.
 */
export function failoverChain(
    endpoints: Endpoint[],
    o: FailoverOptions = {},
): ChainAccess & {
    status(): EndpointStatus[];
    provider(address: Address, init?: StateInit | null): ContractProvider;
    recentTransactions(address: Address, limit: number): Promise<Transaction[]>;
} {
    if (endpoints.length === 0) throw new Error('at least one endpoint is needed');
    const timeoutMs = o.timeoutMs ?? 10_000;
    const rounds = o.rounds ?? 2;
    const backoffMs = o.backoffMs ?? 500;
    const maxLag = o.maxLagBlocks ?? 12;
    const lagCheckMs = o.lagCheckMs ?? 30_000;
    const states: EndpointState[] = endpoints.map((e) => ({
        url: e.url,
        apiKey: e.apiKey,
        client: new TonClient({ endpoint: e.url, apiKey: e.apiKey, timeout: timeoutMs }),
        failures: 0,
        restingUntil: 0,
        behind: false,
    }));
    const describe = `the TON API at ${endpoints.map((e) => e.url).join(', ')}`;
    // The chain's clock is the machine's; in development (followChainClock) the latest block time
    // an endpoint reports with an account's state when that is further ahead (a devnet whose clock
    // was moved forward): contracts judge deadlines and claim windows by the chain's time. Only
    // ahead: an endpoint that claims an earlier time must not make an expired attestation look valid.
    let clockOffset = 0;
    let latestBlock: number | undefined;
    const chainTime = (unix: number) => {
        latestBlock = Math.max(latestBlock ?? 0, unix);
        if (!o.followChainClock) return;
        const d = unix - Date.now() / 1000;
        clockOffset = d > CLOCK_TOLERANCE_SECONDS ? Math.round(d) : 0;
    };
    let lagCheckedAt = -Infinity;
    let lagCheck: Promise<void> | undefined;

    const failed = (s: EndpointState, e: unknown) => {
        s.failures += 1;
        s.restingUntil = Date.now() + Math.min(backoffMs * 2 ** (s.failures - 1), 60_000);
        s.lastError = (e as Error)?.message ?? String(e);
    };

    // Compares the endpoints' latest masterchain blocks; one far behind serves stale state.
    const checkLag = async () => {
        if (states.length < 2 || Date.now() - lagCheckedAt < lagCheckMs) return;
        lagCheck ??= (async () => {
            const seqnos = await Promise.all(
                states.map((s) =>
                    s.client.getMasterchainInfo().then(
                        (m) => m.latestSeqno,
                        (e) => (failed(s, e), undefined),
                    ),
                ),
            );
            const best = Math.max(...seqnos.map((n) => n ?? -Infinity));
            states.forEach((s, i) => {
                const n = seqnos[i];
                s.behind = n !== undefined && best - n > maxLag;
                if (s.behind) s.lastError = `behind: masterchain block ${n}, others at ${best}`;
            });
            lagCheckedAt = Date.now();
        })().finally(() => (lagCheck = undefined));
        await lagCheck;
    };

    // Best first: up and current, then behind, then resting (soonest back first).
    const ordered = () => {
        const now = Date.now();
        const rank = (s: EndpointState) => (s.restingUntil > now ? 2 : s.behind ? 1 : 0);
        return [...states].sort((a, b) => rank(a) - rank(b) || a.restingUntil - b.restingUntil || a.failures - b.failures);
    };

    async function call<T>(what: string, f: (client: TonClient, endpoint: EndpointState) => Promise<T>): Promise<T> {
        for (let round = 0; ; round++) {
            await checkLag();
            for (const s of ordered()) {
                try {
                    const result = await f(s.client, s);
                    s.failures = 0;
                    s.restingUntil = 0;
                    return result;
                } catch (e) {
                    if (isAnswer(e)) throw e;
                    failed(s, e);
                }
            }
            if (round + 1 >= rounds) break;
            await new Promise((r) => setTimeout(r, backoffMs * 2 ** round));
        }
        const tried = states.map((s) => `${s.url} (${s.lastError})`).join('; ');
        throw new ChainUnavailable(chain, what, new Error(`every endpoint failed: ${tried}`));
    }

    const provider = (address: Address, init?: StateInit | null): ContractProvider => ({
        getState: () => call(`read the state of ${address.toString()}`, (c) => c.provider(address, init).getState()),
        // (get methods through get-method.ts: TonClient cannot read nested tuples)
        get: (name, args) =>
            call(`run the get method ${String(name)}`, (_c, e) =>
                runGetMethod({ url: e.url, apiKey: e.apiKey, timeoutMs }, address, String(name), args),
            ),
        external: (message) => call('send a message', (c) => c.provider(address, init).external(message)),
        internal: (via, args) => call('send a message', (c) => c.provider(address, init).internal(via, args)),
        open: (contract) => openContract(contract, (p) => provider(p.address, p.init)),
        getTransactions: (a, lt, hash, limit) =>
            call(`read transactions of ${a.toString()}`, (c) => c.provider(a).getTransactions(a, lt, hash, limit)),
    });

    const chain = {
        provider,
        open: <T extends Contract>(contract: T) => openContract(contract, (p) => provider(p.address, p.init)),
        accountState: (a: Address) =>
            call(`read the state of ${a.toString()}`, async (c) => (await accountStateThrough(c, a, chainTime)).state),
        lastTransactionLt: (a: Address) =>
            call(`read the state of ${a.toString()}`, async (c) => (await accountStateThrough(c, a, chainTime)).lastLt),
        transactions: (a: Address, afterLt: bigint) =>
            call(`read transactions of ${a.toString()}`, (c) => transactionsThrough(c, a, afterLt)),
        // An account's newest `limit` transactions (one page, at most 100), newest first: recent
        // activity without the whole history that transactions(a, 0n) pages through.
        recentTransactions: (a: Address, limit: number) =>
            call(`read transactions of ${a.toString()}`, async (c) =>
                (await c.getTransactions(a, { limit: Math.min(limit, 100), archival: true })).sort((x, y) =>
                    x.lt < y.lt ? 1 : x.lt > y.lt ? -1 : 0,
                ),
            ),
        now: () => Math.floor(Date.now() / 1000) + clockOffset,
        latestBlockTime: () => latestBlock,
        describe,
        status: (): EndpointStatus[] =>
            states.map((s) => ({
                url: s.url,
                up: s.restingUntil <= Date.now() && !s.behind,
                failures: s.failures,
                behind: s.behind,
                lastError: s.lastError,
            })),
    };
    return chain;
}

/**
 * How one endpoint of a failoverChain is doing: `up` when it is neither resting after a failure nor
 * behind the others; `failures` counts its consecutive failures, `lastError` says what went wrong last.
 */
export interface EndpointStatus {
    url: string;
    up: boolean;
    failures: number;
    behind: boolean;
    lastError?: string;
}

/**
 * An --endpoint value: a URL, optionally with `#ENV_NAME` naming the environment variable that
 * holds its API key (a fragment never leaves this machine, and each key goes to its own endpoint).
 */
export function parseEndpoint(value: string, env: NodeJS.ProcessEnv = process.env): Endpoint {
    const [url, keyEnv] = value.split('#');
    try {
        new URL(url);
    } catch {
        throw new Error(`--endpoint ${url} is not a URL`);
    }
    if (!keyEnv) return { url };
    const apiKey = env[keyEnv];
    if (!apiKey) throw new Error(`--endpoint ${url}#${keyEnv}: the environment variable ${keyEnv} (its API key) is not set`);
    return { url, apiKey };
}

/** A Blueprint script's connection (scripts/): it can tell deployed from not, nothing finer. */
export function networkProviderChain(provider: NetworkProvider): ChainAccess {
    return {
        open: (c) => provider.open(c),
        accountState: async (a) => ((await provider.isContractDeployed(a)) ? 'active' : 'nonexist'),
        transactions: () => Promise.reject(new Error('a Blueprint script does not read transactions')),
        now: () => Math.floor(Date.now() / 1000),
        describe: `the ${provider.network()} API`,
    };
}

/**
 * Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. On the sandbox a
 * send has been processed when it returns, so the first check answers.
 */
export async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 2000): Promise<T | undefined> {
    const until = Date.now() + timeoutMs;
    for (;;) {
        const v = await check();
        if (v !== undefined || Date.now() >= until) return v;
        await new Promise((r) => setTimeout(r, intervalMs));
    }
}
