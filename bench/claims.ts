// `npm run bench:claims [-- --sessions N] [-- --rtt-ms MS] [-- --block-ms MS]`: how long one claim
// pass of the worker takes with N sessions due (default 40), on the embedded chain made to answer
// like a real one: every chain call takes a round trip (default 50 ms) and a wallet transfer lands
// a block later (default 2,000 ms; about 5 s on mainnet). Side by side, the worker's wallet as:
// - a wallet that sends one message a transfer (a sender without sendMany), as every claim went
//   before the claim pass batched them;
// - a v4 wallet of a mnemonic, as the worker's CLI makes it by default (4 messages a transfer);
// - a v5r1 wallet (`--wallet-version v5r1`: 200 a transfer).
// Each pass claims a fresh receipt of every session (each session is served once more before it).
import { performance } from 'perf_hooks';
import { Sender, toNano } from '@ton/core';
import { mnemonicNew } from '@ton/crypto';
import { ClientSession } from '../sdk';
import { ChainAccess, WalletVersion, mnemonicWallet } from '../protocol/chain';
import { DEMO_MODEL, LocalNetwork, localClient, startLocalNetwork } from '../testkit/local-network';

const PROMPT = { messages: [{ role: 'user' as const, content: 'Claim me.' }], max_tokens: 8 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// `chain` with every call a round trip of `rttMs`, and every send landing `blockMs` later.
function distantChain(chain: ChainAccess, rttMs: number, blockMs: number): ChainAccess {
    const late =
        <A extends unknown[], R>(ms: number, f: (...a: A) => Promise<R>) =>
        async (...a: A) => {
            await sleep(ms);
            return f(...a);
        };
    return {
        ...chain,
        accountState: late(rttMs, chain.accountState),
        lastTransactionLt: chain.lastTransactionLt && late(rttMs, chain.lastTransactionLt),
        transactions: late(rttMs, chain.transactions),
        open: (c) =>
            new Proxy(chain.open(c), {
                get: (target, name) => {
                    const member = Reflect.get(target, name);
                    const call = member as (...a: unknown[]) => Promise<unknown>;
                    if (typeof member !== 'function') return member;
                    if (String(name).startsWith('get')) return late(rttMs, call);
                    if (String(name).startsWith('send')) return late(blockMs, call);
                    return member; // (createTransfer and the like: computed here)
                },
            }),
    };
}

async function pass(net: LocalNetwork, sessions: ClientSession[], sender: Sender, chain: ChainAccess) {
    for (const s of sessions) await s.chat(PROMPT); // a fresh receipt to claim
    const worker = net.worker.o as { sender: Sender; chain: ChainAccess };
    const [ownSender, ownChain] = [worker.sender, worker.chain];
    [worker.sender, worker.chain] = [sender, chain];
    try {
        const transfers = async () =>
            (await net.chain.transactions(sender.address!, 0n)).filter((t) => t.inMessage?.info.type === 'external-in').length;
        const before = await transfers();
        const started = performance.now();
        const claimed = await net.worker.claimDue(true);
        const seconds = (performance.now() - started) / 1000;
        if (claimed.length !== sessions.length) throw new Error(`the pass claimed ${claimed.length} of ${sessions.length} sessions`);
        return { seconds, transfers: (await transfers()) - before };
    } finally {
        [worker.sender, worker.chain] = [ownSender, ownChain];
    }
}

async function main() {
    const args = process.argv.slice(2);
    const option = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
    const n = option('--sessions', 40);
    const rttMs = option('--rtt-ms', 50);
    const blockMs = option('--block-ms', 2000);
    const net = await startLocalNetwork();
    try {
        await net.worker.attest();
        const client = localClient(net);
        const sessions: ClientSession[] = [];
        for (let i = 0; i < n; i++) {
            sessions.push(await client.openSession(net.provider, { model: DEMO_MODEL, budget: toNano('3'), durationSeconds: 3600 }));
        }
        const distant = distantChain(net.chain, rttMs, blockMs);
        const wallet = async (version: WalletVersion) => {
            const w = await mnemonicWallet(distant, await mnemonicNew(24), { version, pollMs: 100 });
            await net.ledger.sender(net.workerWallet).send({ to: w.address, value: toNano('10'), bounce: false });
            return w.sender;
        };
        const v4 = await wallet('v4');
        const rows = [
            { wallet: 'one message a transfer (no sendMany)', sender: { address: v4.address, send: v4.send } as Sender },
            { wallet: 'v4 (4 a transfer, the default)', sender: v4 as Sender },
            { wallet: 'v5r1 (200 a transfer)', sender: (await wallet('v5r1')) as Sender },
        ];
        const table = [];
        for (const r of rows) {
            const { seconds, transfers } = await pass(net, sessions, r.sender, distant);
            table.push({ wallet: r.wallet, transfers, 'pass s': Number(seconds.toFixed(1)) });
        }
        console.log(
            `one claim pass, ${n} sessions due, every chain call ${rttMs} ms, a transfer landing ${blockMs} ms after it is sent (embedded chain)`,
        );
        console.table(table);
    } finally {
        await net.stop();
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
