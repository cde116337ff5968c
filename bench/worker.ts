// `npm run bench:worker`: the latency of one chat request through the whole path, measured on the
// local network of the demo: the SDK checks the attestation on-chain and seals the request (HPKE),
// the worker checks the session, opens it, calls the built-in backend over HTTP, signs and stores
// the receipt (SQLite, synchronous), seals the answer; the SDK opens it and checks the receipt.
// The backend answers at once, so this is the protocol's own overhead per request.
import { performance } from 'perf_hooks';
import { toNano } from '@ton/core';
import { CocoonClient } from '../sdk';
import { DEMO_MODEL, LOCAL_CLIENT_POLICY, startLocalNetwork } from '../testkit/local-network';

async function main() {
    const requests = Number(process.argv[2] ?? 200); // per row; the worker allows 600 requests a minute
    const net = await startLocalNetwork();
    try {
        await net.worker.attest();
        const prompt = {
            messages: [{ role: 'user' as const, content: 'Explain confidential computing in two sentences.' }],
            max_tokens: 64,
        };
        // Side by side: the provider read from the chain before every request (the default), and
        // reused for 5 s (providerCheckMs), which saves two chain reads per request.
        const rows = [];
        for (const [label, providerCheckMs] of [
            ['provider read before every request (default)', 0],
            ['provider read reused for 5 s', 5000],
        ] as const) {
            const client = new CocoonClient({
                ...LOCAL_CLIENT_POLICY,
                chain: net.chain,
                wallet: net.ledger.sender(net.client),
                root: net.root.address,
                providerCheckMs,
            });
            const session = await client.openSession(net.provider, { model: DEMO_MODEL, budget: toNano('50'), durationSeconds: 3600 });
            await session.chat(prompt); // warm up
            const times: number[] = [];
            const started = performance.now();
            for (let i = 0; i < requests; i++) {
                const t = performance.now();
                await session.chat(prompt);
                times.push(performance.now() - t);
            }
            const seconds = (performance.now() - started) / 1000;
            times.sort((a, b) => a - b);
            const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(2);
            rows.push({
                client: label,
                requests,
                'requests/s': (requests / seconds).toFixed(1),
                'p50 ms': at(0.5),
                'p95 ms': at(0.95),
                'max ms': at(1),
            });
        }
        console.log(`${requests} sequential chat requests per row, one client, one worker, loopback HTTP, sandbox chain`);
        console.table(rows);
    } finally {
        await net.stop();
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
