// A worker as its own operating-system process on the local network. The embedded chain lives in
// the test's process; the bridge gives another process a ChainAccess over loopback HTTP (get
// methods, account states, transactions, sends from the worker's wallet) so that the worker there
// runs the same code it runs against a real chain, and can be killed with kill -9 like one.
// Test infrastructure only: a real worker talks to a TON API (protocol/chain.ts failoverChain).
import { createServer } from 'http';
import { spawn, ChildProcess } from 'child_process';
import { join } from 'path';
import {
    Address,
    Cell,
    Contract,
    ContractProvider,
    OpenedContract,
    Sender,
    SenderArguments,
    TupleItem,
    TupleReader,
    beginCell,
    loadTransaction,
    openContract,
    parseTuple,
    serializeTuple,
    storeTransaction,
} from '@ton/core';
import { AccountState, ChainAccess } from '../protocol/chain';
import { postJson } from '../protocol/http-post';
import type { LocalNetwork } from './local-network';
import { nodeArgs } from './compiled';

interface BridgeCall {
    op: 'get' | 'state' | 'lt' | 'transactions' | 'send';
    address?: string;
    name?: string;
    args?: string; // BoC of serializeTuple
    afterLt?: string;
    to?: string;
    value?: string;
    body?: string;
    bounce?: boolean;
}

// The test's side: answers a child process's chain calls from the local network.
export async function serveChainBridge(net: LocalNetwork): Promise<{ url: string; close(): Promise<void> }> {
    const worker = net.ledger.sender(net.workerWallet);
    // Get-method answers, kept while the account has no new transaction and the chain's clock has
    // not moved: a real worker's reads are computed by its TON API's servers, and here each would
    // be a TVM emulation in the test's process, the one that also runs the load in the throughput
    // benchmark (50 sessions, each read every 3 s).
    const gets = new Map<string, string>();
    const answer = async (c: BridgeCall): Promise<unknown> => {
        if (c.op === 'get') {
            const address = Address.parse(c.address!);
            const { lastTransactionLt } = await net.blockchain.getContract(address);
            const key = [address.toRawString(), lastTransactionLt, net.chain.now(), c.name, c.args ?? ''].join('|');
            let stack = gets.get(key);
            if (stack === undefined) {
                const args = c.args ? parseTuple(Cell.fromBase64(c.args)) : [];
                const r = await net.blockchain.provider(address).get(c.name!, args);
                const items: TupleItem[] = [];
                while (r.stack.remaining > 0) items.push(r.stack.pop());
                stack = serializeTuple(items).toBoc().toString('base64');
                if (gets.size >= 10_000) gets.clear();
                gets.set(key, stack);
            }
            return { stack };
        }
        if (c.op === 'state') return { state: await net.chain.accountState(Address.parse(c.address!)) };
        if (c.op === 'lt') return { lt: (await net.blockchain.getContract(Address.parse(c.address!))).lastTransactionLt.toString() };
        if (c.op === 'transactions') {
            const txs = await net.chain.transactions(Address.parse(c.address!), BigInt(c.afterLt!));
            return { transactions: txs.map((t) => beginCell().store(storeTransaction(t)).endCell().toBoc().toString('base64')) };
        }
        await worker.send({
            to: Address.parse(c.to!),
            value: BigInt(c.value!),
            body: c.body ? Cell.fromBase64(c.body) : undefined,
            bounce: c.bounce,
        });
        return {};
    };
    const server = createServer((req, res) => {
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => {
            answer(JSON.parse(body) as BridgeCall).then(
                (r) => res.end(JSON.stringify({ ok: true, now: net.chain.now(), ...(r as object) })),
                (e) => res.end(JSON.stringify({ ok: false, now: net.chain.now(), error: (e as Error).message })),
            );
        });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
        url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
        close: () =>
            new Promise<void>((r) => {
                server.closeAllConnections();
                server.close(() => r());
            }),
    };
}

// The child's side: a ChainAccess and the worker wallet's Sender, over the bridge.
export function bridgedChain(url: string): { chain: ChainAccess; sender: Sender } {
    let chainNow = Math.floor(Date.now() / 1000);
    let at = Date.now();
    const call = async (c: BridgeCall) => {
        // (the HTTP client the worker's get methods use on a real network; a real endpoint's calls
        // time out too: failoverChain)
        const res = await postJson({ url: new URL(url) }, JSON.stringify(c), { 'content-type': 'application/json' }, 30_000);
        const r = res.json as { ok: boolean; now: number; error?: string } & Record<string, unknown>;
        [chainNow, at] = [r.now, Date.now()];
        if (!r.ok) throw new Error(r.error);
        return r;
    };
    const provider = (address: Address): ContractProvider => ({
        getState: () => Promise.reject(new Error('not bridged')),
        get: async (name, args) => {
            const r = await call({
                op: 'get',
                address: address.toString(),
                name: String(name),
                args: serializeTuple(args).toBoc().toString('base64'),
            });
            return { stack: new TupleReader(parseTuple(Cell.fromBase64(r.stack as string))) };
        },
        external: () => Promise.reject(new Error('not bridged')),
        internal: () => Promise.reject(new Error('not bridged')),
        open: <T extends Contract>(c: T) => openContract(c, (p) => provider(p.address)),
        getTransactions: () => Promise.reject(new Error('not bridged')),
    });
    const chain: ChainAccess = {
        open: <T extends Contract>(c: T): OpenedContract<T> => openContract(c, (p) => provider(p.address)),
        accountState: async (a) => (await call({ op: 'state', address: a.toString() })).state as AccountState,
        lastTransactionLt: async (a) => BigInt((await call({ op: 'lt', address: a.toString() })).lt as string),
        transactions: async (a, afterLt) =>
            ((await call({ op: 'transactions', address: a.toString(), afterLt: afterLt.toString() })).transactions as string[]).map((t) =>
                loadTransaction(Cell.fromBase64(t).beginParse()),
            ),
        now: () => chainNow + Math.floor((Date.now() - at) / 1000),
        describe: `the local network's chain bridge at ${url}`,
    };
    const sender: Sender = {
        send: async (args: SenderArguments) => {
            await call({
                op: 'send',
                to: args.to.toString(),
                value: args.value.toString(),
                body: args.body ? (args.body as Cell).toBoc().toString('base64') : undefined,
                bounce: args.bounce ?? undefined,
            });
        },
    };
    return { chain, sender };
}

export interface WorkerProcessOptions {
    bridgeUrl: string;
    provider: string;
    verifiers: string[];
    backendUrl: string;
    dir: string; // its database and sealed keys
    port: number;
    tickMs?: number; // between background passes (default 1000; the CLI's default is 30 s)
}

const START_TIMEOUT_MS = 120_000;

// Starts testkit/worker-process.ts as a child process; resolves once it serves (after attesting,
// unless its sealed keys are still attested), or fails after START_TIMEOUT_MS.
export function spawnWorkerProcess(o: WorkerProcessOptions): Promise<ChildProcess> {
    const child = spawn(
        process.execPath,
        [
            ...(process.env.COCOON_WORKER_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.COCOON_WORKER_PROFILE}`] : []),
            ...nodeArgs('testkit/worker-process.ts'), // (compiled when it can: see compiled.ts)
            JSON.stringify(o),
        ],
        { cwd: join(__dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    return new Promise((resolve, reject) => {
        let out = '';
        const stuck = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`the worker process did not serve within ${START_TIMEOUT_MS / 1000} s: ${out}`));
        }, START_TIMEOUT_MS);
        child.stdout!.on('data', (d: Buffer) => {
            out += d.toString();
            if (out.includes('serving')) {
                clearTimeout(stuck);
                resolve(child);
            }
        });
        child.on('exit', (code) => {
            clearTimeout(stuck);
            reject(new Error(`the worker process exited (${code}) before serving: ${out}`));
        });
    });
}
