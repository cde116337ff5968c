// `npm run bench:worker [-- --requests N] [-- --json]`: what the confidential path costs over
// calling the model backend directly, measured in one run on the demo's local network.
//
// - direct: POST /v1/chat/completions to the built-in backend (which answers at once);
// - confidential: the same request through the SDK and the worker: the SDK seals it (HPKE), the
//   worker checks the session, opens it, calls the same backend, signs the receipt and stores it
//   with the answer (SQLite), seals the answer; the SDK opens it and checks the receipt. The
//   provider's on-chain state is reused for 5 s (providerCheckMs); a third row reads it before
//   every request, which on the embedded chain is a TVM emulation of two getters;
// - the steps moved to node:crypto (and the HTTP client to undici), next to what they replaced;
// - throughput: the worker as its own process (testkit/chain-bridge.ts), 50 sessions sending at
//   once (4 requests in flight each) for a few seconds from this process; the worker process's
//   peak RSS (VmHWM).
//
// Runs compiled (`npm run compile`, into dist/) as a deployment would, so that the worker process's
// RSS is its own and not ts-node's TypeScript compiler's (about 100 MB).
//
// The latency rows run everything (chain, verifiers, worker, backend, client) in this one process:
// a request's client, worker and backend work add up either way, since each waits for the next.
import { performance } from 'perf_hooks';
import { Address, Cell, beginCell, toNano } from '@ton/core';
import { CocoonClient, ClientSession } from '../sdk';
import { postForStream, postJson } from '../protocol/http-post';
import { buildGateway } from '../gateway/src/app';
import { DEFAULT_SESSION_POLICY } from '../gateway/src/sessions';
import { generateX25519KeyPair, openAuth, sealAuth } from '../protocol/hpke';
import {
    ReceiptFields,
    buildUsageReceipt,
    decodeUsageReceipt,
    encodeUsageReceipt,
    parseUsageReceipt,
    signUsageReceipt,
    verifyUsageReceipt,
} from '../wrappers';
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { keyPairFromSeed, sign, signVerify } from '@ton/crypto';
import { DEMO_MODEL, LOCAL_CLIENT_POLICY, LocalNetwork, startLocalNetwork } from '../testkit/local-network';
import { serveChainBridge, spawnWorkerProcess } from '../testkit/chain-bridge';
import { mkdtempSync, readFileSync } from 'fs';
import { Agent as HttpAgent, createServer, request as httpRequest } from 'http';
import { AddressInfo } from 'net';
import { tmpdir } from 'os';
import { join } from 'path';

const PROMPT = {
    messages: [{ role: 'user' as const, content: 'Explain confidential computing in two sentences.' }],
    max_tokens: 64,
};

interface Timing {
    p50: number;
    p99: number;
    rps: number;
}

// p50, p99 and requests/s of sequential requests that took these times (ms).
function summary(times: number[]): Timing {
    const sorted = [...times].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    return { p50: at(0.5), p99: at(0.99), rps: times.length / (times.reduce((a, b) => a + b, 0) / 1000) };
}

async function timed(n: number, once: () => Promise<unknown>): Promise<Timing> {
    return (await timedInTurn(n, once))[0];
}

// Paths timed in turn, request by request, so that all of them see the same machine (a shared
// machine's speed drifts during a run): the overhead is their difference.
async function timedInTurn(n: number, ...paths: (() => Promise<unknown>)[]): Promise<Timing[]> {
    for (let i = 0; i < 20; i++) for (const once of paths) await once(); // warm up
    const times = paths.map(() => [] as number[]);
    for (let i = 0; i < n; i++) {
        for (const [k, once] of paths.entries()) {
            const t = performance.now();
            await once();
            times[k].push(performance.now() - t);
        }
    }
    return times.map(summary);
}

function client(net: LocalNetwork, providerCheckMs: number) {
    return new CocoonClient({
        ...LOCAL_CLIENT_POLICY,
        chain: net.chain,
        wallet: net.ledger.sender(net.client),
        root: net.root.address,
        providerCheckMs,
    });
}

// The demo prices make a request cost about 0.01 TON; the collateral of every session (20% of its
// budget) must fit in the demo provider's stake.
const open = (c: CocoonClient, net: LocalNetwork, budget = '20') =>
    c.openSession(net.provider, { model: DEMO_MODEL, budget: toNano(budget), durationSeconds: 3600 });

async function throughput(net: LocalNetwork, sessions: number, inFlight: number, seconds: number) {
    await net.stopWorker();
    net.blockchain.now! += 1; // the process attests new keys: a proof newer than the one held
    const bridge = await serveChainBridge(net);
    const worker = await spawnWorkerProcess({
        bridgeUrl: bridge.url,
        provider: net.provider.toString(),
        verifiers: net.verifierUrls,
        backendUrl: net.backendUrl,
        dir: mkdtempSync(join(tmpdir(), 'cocoon-bench-')),
        port: Number(new URL(net.workerUrl).port),
        tickMs: 30_000, // the CLI's default pass interval
    });
    try {
        const c = client(net, 5000);
        const all: ClientSession[] = [];
        for (let i = 0; i < sessions; i++) all.push(await open(c, net, '3'));
        await Promise.all(all.map((s) => s.chat(PROMPT))); // warm up
        const idleRssMb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${worker.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
        const cpuBefore = cpuMs(worker.pid!);
        const ownCpuBefore = process.cpuUsage();
        let served = 0;
        const until = performance.now() + seconds * 1000;
        const started = performance.now();
        await Promise.all(
            all.flatMap((s) =>
                Array.from({ length: inFlight }, async () => {
                    while (performance.now() < until) {
                        await s.chat(PROMPT);
                        served += 1;
                    }
                }),
            ),
        );
        const rps = served / ((performance.now() - started) / 1000);
        const workerCpuMsPerRequest = (cpuMs(worker.pid!) - cpuBefore) / served;
        const ownCpu = process.cpuUsage(ownCpuBefore);
        const loadCpuMsPerRequest = (ownCpu.user + ownCpu.system) / 1000 / served;
        const status = readFileSync(`/proc/${worker.pid}/status`, 'utf8');
        const peakRssMb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
        return { rps, peakRssMb, idleRssMb, workerCpuMsPerRequest, loadCpuMsPerRequest };
    } finally {
        worker.kill('SIGTERM');
        await new Promise((r) => worker.once('exit', r));
        await bridge.close();
    }
}

// The steps of the confidential path that moved off pure-JS or WebCrypto code (to node:crypto; the
// receipt's cell to bigint arithmetic and node:crypto's SHA-256) or to another library (the HTTP
// client, to undici), next to what they replaced (ms per operation).
async function cryptoSteps() {
    const each = async (n: number, f: () => unknown) => {
        for (let i = 0; i < 20; i++) await f();
        const t = performance.now();
        for (let i = 0; i < n; i++) await f();
        return (performance.now() - t) / n;
    };
    const enclave = generateX25519KeyPair();
    const client = generateX25519KeyPair();
    const info = Buffer.from('bench');
    const aad = Buffer.from('request-id');
    const text = Buffer.from(JSON.stringify(PROMPT));
    const sealed = sealAuth(enclave.publicKey, client, info, aad, text);
    const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });
    const key = async (k: { publicKey: Buffer; privateKey: Buffer }) => ({
        privateKey: await suite.kem.importKey('raw', k.privateKey, false),
        publicKey: await suite.kem.deserializePublicKey(k.publicKey),
    });
    const webSeal = async () => {
        const s = await suite.createSenderContext({
            recipientPublicKey: await suite.kem.deserializePublicKey(enclave.publicKey),
            senderKey: await key(client),
            info,
        });
        return s.seal(text, aad);
    };
    const webOpen = async () => {
        const r = await suite.createRecipientContext({
            recipientKey: await key(enclave),
            senderPublicKey: await suite.kem.deserializePublicKey(client.publicKey),
            enc: sealed.enc,
            info,
        });
        return r.open(sealed.ciphertext, aad);
    };
    const signer = keyPairFromSeed(Buffer.alloc(32, 7));
    const receipt = beginCell().storeUint(1, 256).endCell();
    const signature = signUsageReceipt(receipt, signer.secretKey);
    const fields: ReceiptFields = {
        globalId: -239,
        session: new Address(0, Buffer.alloc(32, 7)),
        openedAt: 1_800_000_000,
        seqno: 123,
        lastRequestAt: 1_800_000_100,
        promptTokens: 1234n,
        cachedTokens: 12n,
        completionTokens: 4567n,
        reasoningTokens: 0n,
        amountDue: 123_456_789n,
        resultsHash: (1n << 255n) + 12_345n,
    };
    const encoded = encodeUsageReceipt(fields).boc.toString('base64');
    const server = createServer((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true })));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const body = JSON.stringify(PROMPT);
    const headers = { 'content-type': 'application/json' };
    const keptAlive = new HttpAgent({ keepAlive: true });
    const nodeHttpPost = () =>
        new Promise((resolve, reject) => {
            const req = httpRequest(
                url,
                { method: 'POST', agent: keptAlive, headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
                (res) => {
                    const chunks: Buffer[] = [];
                    res.on('data', (c: Buffer) => chunks.push(c));
                    res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
                },
            );
            req.on('error', reject);
            req.end(body);
        });
    const post = {
        step: 'loopback POST, client and server in one process',
        'now ms': await each(1000, () => postJson({ url }, body, headers, 10_000)),
        'before ms': await each(1000, nodeHttpPost),
        before: 'node:http',
    };
    keptAlive.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    return [
        {
            step: 'HPKE seal (Auth mode)',
            'now ms': await each(300, () => sealAuth(enclave.publicKey, client, info, aad, text)),
            'before ms': await each(100, webSeal),
            before: '@hpke/core',
        },
        {
            step: 'HPKE open',
            'now ms': await each(300, () => openAuth(enclave, client.publicKey, sealed.enc, info, aad, sealed.ciphertext)),
            'before ms': await each(100, webOpen),
            before: '@hpke/core',
        },
        {
            step: 'receipt signature',
            'now ms': await each(300, () => signUsageReceipt(receipt, signer.secretKey)),
            'before ms': await each(50, () => sign(receipt.hash(), signer.secretKey)),
            before: '@ton/crypto',
        },
        {
            step: 'receipt check',
            'now ms': await each(300, () => verifyUsageReceipt(receipt, signature, signer.publicKey)),
            'before ms': await each(50, () => signVerify(receipt.hash(), signature, signer.publicKey)),
            before: '@ton/crypto',
        },
        {
            step: 'receipt built and encoded (worker)',
            'now ms': await each(300, () => encodeUsageReceipt(fields).boc.toString('base64')),
            'before ms': await each(300, () => buildUsageReceipt(fields).toBoc().toString('base64')),
            before: "@ton/core's Cell",
        },
        {
            step: 'receipt read and hashed (client)',
            'now ms': await each(300, () => decodeUsageReceipt(Buffer.from(encoded, 'base64'))),
            'before ms': await each(300, () => {
                const cell = Cell.fromBase64(encoded);
                return [parseUsageReceipt(cell), cell.hash()];
            }),
            before: "@ton/core's Cell",
        },
        post,
    ].map((r) => ({ ...r, 'now ms': Number(r['now ms'].toFixed(3)), 'before ms': Number(r['before ms'].toFixed(3)) }));
}

// CPU time (user + system) a process has used, in ms (/proc/PID/stat, in clock ticks of 10 ms).
function cpuMs(pid: number): number {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
}

// Time to the first chunk of a streamed answer (the whole stream is read each time): from the
// backend directly, through the SDK and the worker, and through the OpenAI-compatible gateway in
// front of them (gateway/, as `npm run gateway` runs it). The backend streams a chunk a
// millisecond (a fast model's pace, in every row): answered all at once, the whole answer would
// arrive in one read and, everything running in this one process, each side would process all of
// it before the next side saw its first chunk, which measures the answer's length, not the first
// token.
async function streamingRows(net: LocalNetwork, n: number) {
    net.setBackendDelay(0, { perChunkMs: 1 });
    const body = JSON.stringify({ ...PROMPT, model: DEMO_MODEL, stream: true });
    const firstDataLine = async (url: string) => {
        const started = performance.now();
        const res = await postForStream({ url: new URL(url) }, body, { 'content-type': 'application/json' }, 10_000);
        let first = 0;
        for await (const line of res.lines()) if (!first && line.startsWith('data:')) first = performance.now() - started;
        return first;
    };
    const direct = await timedValues(n, () => firstDataLine(`${net.backendUrl}/v1/chat/completions`));
    const session = await open(client(net, 5000), net);
    const sdk = await timedValues(n, async () => {
        const started = performance.now();
        const stream = session.chatStream(PROMPT);
        let first = 0;
        for await (const _ of stream) if (!first) first = performance.now() - started;
        await stream.result;
        return first;
    });
    const gateway = await buildGateway({ client: client(net, 5000), policy: { ...DEFAULT_SESSION_POLICY, budget: toNano('20') } });
    const url = await gateway.listen({ host: '127.0.0.1', port: 0 });
    try {
        return { direct, sdk, gateway: await timedValues(n, () => firstDataLine(`${url}/v1/chat/completions`)) };
    } finally {
        await gateway.close();
        net.setBackendDelay(0);
    }
}

// Like timed, for a measurement `once` returns itself (ms).
async function timedValues(n: number, once: () => Promise<number>): Promise<Timing> {
    for (let i = 0; i < 20; i++) await once(); // warm up
    const times: number[] = [];
    for (let i = 0; i < n; i++) times.push(await once());
    return summary(times);
}

async function main() {
    const args = process.argv.slice(2);
    const json = args.includes('--json');
    const n = Number(args[args.indexOf('--requests') + 1]) || 500;
    const net = await startLocalNetwork();
    try {
        await net.stopWorker();
        await net.startWorker({ perSessionPerMinute: 1_000_000 }); // a benchmark is no abuse
        await net.worker.attest();
        const backend = `${net.backendUrl}/v1/chat/completions`;
        const reused = await open(client(net, 5000), net);
        const [direct, confidential] = await timedInTurn(
            n,
            // the same HTTP client as the SDK's (kept-alive node:http)
            () =>
                postJson(
                    { url: new URL(backend) },
                    JSON.stringify({ ...PROMPT, model: DEMO_MODEL }),
                    { 'content-type': 'application/json' },
                    10_000,
                ),
            () => reused.chat(PROMPT),
        );
        const everyRequest = await open(client(net, 0), net);
        const chainEveryTime = await timed(Math.min(n, 200), () => everyRequest.chat(PROMPT));
        const firstChunk = await streamingRows(net, Math.min(n, 300));
        const load = await throughput(net, 50, 4, 5);
        const steps = await cryptoSteps();

        const ms = (x: number) => Number(x.toFixed(2));
        if (json) {
            console.log(
                JSON.stringify({
                    requests: n,
                    directP50Ms: ms(direct.p50),
                    directP99Ms: ms(direct.p99),
                    confidentialP50Ms: ms(confidential.p50),
                    confidentialP99Ms: ms(confidential.p99),
                    overheadP50Ms: ms(confidential.p50 - direct.p50),
                    confidentialRps: Math.round(load.rps),
                    sessions: 50,
                    workerPeakRssMb: Math.round(load.peakRssMb),
                    workerIdleRssMb: Math.round(load.idleRssMb),
                    workerCpuMsPerRequest: ms(load.workerCpuMsPerRequest),
                    workerRpsPerCore: Math.round(1000 / load.workerCpuMsPerRequest),
                    loadCpuMsPerRequest: ms(load.loadCpuMsPerRequest),
                    cryptoSteps: steps,
                    streamDirectFirstChunkP50Ms: ms(firstChunk.direct.p50),
                    streamGatewayFirstChunkP50Ms: ms(firstChunk.gateway.p50),
                    streamFirstChunkOverheadP50Ms: ms(firstChunk.gateway.p50 - firstChunk.direct.p50),
                }),
            );
            return;
        }
        const row = (path: string, t: Timing) => ({ path, 'p50 ms': ms(t.p50), 'p99 ms': ms(t.p99), 'requests/s': Math.round(t.rps) });
        console.log(
            `${n} sequential chat requests per row (one client, loopback HTTP, built-in backend, embedded chain; the first two rows in turn, request by request)`,
        );
        console.table([
            row('direct to the backend', direct),
            row('confidential: SDK + worker (provider state reused 5 s)', confidential),
            row('confidential, provider state read before every request', chainEveryTime),
        ]);
        console.log(`overhead at p50: ${ms(confidential.p50 - direct.p50)} ms`);
        console.log(`time to the first streamed chunk, ${Math.min(n, 300)} streams per row`);
        console.table([
            row('stream direct from the backend', firstChunk.direct),
            row('stream through the SDK and the worker', firstChunk.sdk),
            row('stream through the gateway, SDK and worker', firstChunk.gateway),
        ]);
        console.log(`first-chunk overhead at p50 through the gateway: ${ms(firstChunk.gateway.p50 - firstChunk.direct.p50)} ms`);
        console.log(
            `throughput: ${Math.round(load.rps)} requests/s through one worker process, 50 sessions x 4 in flight for 5 s (the clients, backend and chain share the other core)`,
        );
        console.table(steps);
        console.log(
            `worker process: ${ms(load.workerCpuMsPerRequest)} ms of CPU per request (${Math.round(1000 / load.workerCpuMsPerRequest)} requests/s per core); RSS ${Math.round(load.idleRssMb)} MB idle, ${Math.round(load.peakRssMb)} MB at peak`,
        );
        console.log(
            `the load's process (50 SDK clients, the backend, the chain): ${ms(load.loadCpuMsPerRequest)} ms of CPU per request: with two cores, the slower of the two processes sets the throughput`,
        );
    } finally {
        await net.stop();
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
