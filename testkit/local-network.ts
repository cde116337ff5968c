// Everything of a Cocoon deployment on one machine: the embedded @ton/sandbox chain with Root
// configured by governance, two TEE verifiers (2-of-2) and a worker with the built-in test
// backend, all on loopback HTTP. Used by `npm run demo`, the end-to-end tests and the worker
// benchmark. Each step is its own function; startLocalNetwork runs them in order.
import { Blockchain, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, Cell, beginCell, toNano } from '@ton/core';
import { KeyPair } from '@ton/crypto';
import { randomBytes } from 'crypto';
import { sha256 } from '@noble/hashes/sha256';
import { join } from 'path';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import pino from 'pino';
import { ClientOptions, CocoonClient } from '../sdk/client';
import type { FastifyInstance } from 'fastify';
import {
    EXAMPLE_PARAMS,
    GLOBAL_ID_TESTNET,
    TCB_SIMULATED,
    TCB_UP_TO_DATE,
    GOVERNANCE_VALUE,
    ListingInput,
    PriceRates,
    ProtocolParams,
    Root,
    buildListing,
    bufferToBigInt,
    ed25519FromSeed,
    providerEntryFor,
    providerForOwner,
    rootForDeployment,
    storeAddVerifier,
    storeAllowMeasurement,
    storeDeployRoot,
    storeRegister,
    storeSetThreshold,
    storeStake,
} from '../wrappers';
import { ChainAccess, sandboxChain } from '../protocol/chain';
import { Attestor, simulatedMeasurement } from '../tee-verifier/src/attest';
import { NO_GPU_EVIDENCE, sealingReportData } from '../protocol/evidence';
import { DEFAULT_TCB_POLICY } from '../tee-verifier/src/quote';
import { noCollateral } from '../tee-verifier/src/collateral';
import { buildVerifierServer } from '../tee-verifier/src/server';
import { httpPeer } from '../tee-verifier/src/peer';
import { VerifierStore } from '../tee-verifier/src/store';
import { startEchoBackend } from '../worker/src/echo-backend';
import { SealedKeys, readRootVerifierSet, sealingContext, verifierSealingSource } from '../worker/src/sealed-keys';
import { Sealer } from '../tee-verifier/src/sealing';
import { openAiBackend } from '../worker/src/backend';
import { Meter } from '../worker/src/meter';
import { buildWorkerServer } from '../worker/src/server';
import { ClaimPolicy, Worker } from '../worker/src/worker';
import { Ledger } from './ledger';
import { restartablePort } from './ports';
import { setGlobalId } from './protocol';
import { requireNoFailure } from './transactions';

// The local network is a testnet (config param 19 = -3): Root refuses simulated evidence on mainnet.
export const LOCAL_GLOBAL_ID = GLOBAL_ID_TESTNET;
// What a client of the local network accepts: its worker is attested with simulated evidence
// (TCB_SIMULATED), which an SDK client refuses unless told otherwise (and always on mainnet).
export const LOCAL_CLIENT_POLICY = { acceptedTcbStatuses: [Number(TCB_UP_TO_DATE), Number(TCB_SIMULATED)] };
export const DEMO_MODEL = 'cocoon-echo'; // the built-in backend: not a language model
// It has no weights to hash: its identity is the hash of its name and version.
export const DEMO_MODEL_HASH = Buffer.from(sha256('cocoon-echo built-in test backend v1'));
export const DEMO_PRICES = { prompt: toNano('100'), cachedPrompt: toNano('50'), completion: toNano('300'), reasoning: toNano('400') };

export interface LocalNetwork {
    blockchain: Blockchain;
    chain: ChainAccess;
    ledger: Ledger;
    governance: SandboxContract<TreasuryContract>;
    gpuOwner: SandboxContract<TreasuryContract>;
    workerWallet: SandboxContract<TreasuryContract>;
    client: SandboxContract<TreasuryContract>;
    root: SandboxContract<Root>;
    provider: Address;
    verifierUrls: string[];
    workerUrl: string;
    backendUrl: string; // the built-in backend the worker calls
    setBackendDelay(ms: number, o?: { perChunkMs?: number }): void; // makes the built-in backend slow (0: answers at once); perChunkMs: between streamed chunks
    worker: Worker;
    startWorker(o?: WorkerOptions): Promise<Worker>;
    stopWorker(): Promise<void>;
    stop(): Promise<void>;
}

// A client of the local network: the client wallet, its Root, and a policy that accepts the
// simulated TCB of the development worker.
export function localClient(net: LocalNetwork, o: Partial<ClientOptions> = {}): CocoonClient {
    return new CocoonClient({
        ...LOCAL_CLIENT_POLICY,
        chain: net.chain,
        wallet: net.ledger.sender(net.client),
        root: net.root.address,
        confirmTimeoutMs: 5000,
        ...o,
    });
}

export interface WorkerOptions {
    claim?: Partial<ClaimPolicy>;
    sessionCacheSeconds?: number; // how long the worker trusts a session read from the chain (default 3)
    maxConcurrentPerSession?: number; // default 8
    answerRetentionSeconds?: number; // default 600
    perSessionPerMinute?: number; // the worker's chat rate limit per session (default 6000)
    sealedKeys?: boolean; // keep the enclave keys across restarts (sealed with the verifiers' sealing shares)
}

export interface LocalNetworkOptions {
    params?: ProtocolParams;
    step?: (text: string) => void; // reports progress ("what is happening") as the network comes up
    stakeTon?: string; // attached to Register (default 150)
    validitySeconds?: number; // of the verifiers' proofs (default 6 h)
}

const quiet = pino({ level: process.env.COCOON_LOG_LEVEL ?? 'silent' });

type Closer = () => Promise<unknown> | unknown;

// One message from a recorded wallet; throws, naming the exit code, if anything it started failed.
async function sendOk(
    ledger: Ledger,
    wallet: SandboxContract<TreasuryContract>,
    to: Address,
    value: bigint,
    body: Cell,
    init?: { code: Cell; data: Cell },
) {
    const before = ledger.transactions.length;
    await ledger.sender(wallet).send({ to, value, body, init, bounce: !init });
    requireNoFailure(ledger.transactions.slice(before), 'a setup transaction');
}

const cell = (store: (b: ReturnType<typeof beginCell>) => void) => {
    const b = beginCell();
    store(b);
    return b.endCell();
};

// The messages with which governance sets up a development Root: deploy it, add the verifiers
// (all of them needed) and allow the simulated measurement of `modelHash`. Development only: a
// production Root never allowlists it. (Also the devnet's set-up: devnet/src/setup.ts.)
export function developmentRootSetup(
    root: { address: Address; init?: { code: Cell; data: Cell } | null },
    verifierKeys: Buffer[],
    modelHash: Buffer,
): { value: bigint; body: Cell; init?: { code: Cell; data: Cell } }[] {
    return [
        { value: toNano('1'), body: cell(storeDeployRoot({ $$type: 'DeployRoot', queryId: 0n })), init: root.init! },
        ...verifierKeys.map((k) => ({
            value: GOVERNANCE_VALUE,
            body: cell(storeAddVerifier({ $$type: 'AddVerifier', queryId: 0n, publicKey: bufferToBigInt(k) })),
        })),
        {
            value: GOVERNANCE_VALUE,
            body: cell(storeSetThreshold({ $$type: 'SetThreshold', queryId: 0n, threshold: BigInt(verifierKeys.length) })),
        },
        {
            value: GOVERNANCE_VALUE,
            body: cell(
                storeAllowMeasurement({
                    $$type: 'AllowMeasurement',
                    queryId: 0n,
                    measurement: bufferToBigInt(simulatedMeasurement(NO_GPU_EVIDENCE, modelHash)),
                }),
            ),
        },
    ];
}

// Step 1: governance deploys Root and sets up the verifiers and the simulated measurement.
export async function deployLocalRoot(
    ledger: Ledger,
    governance: SandboxContract<TreasuryContract>,
    root: SandboxContract<Root>,
    verifierKeys: KeyPair[],
) {
    const messages = developmentRootSetup(
        root,
        verifierKeys.map((k) => k.publicKey),
        DEMO_MODEL_HASH,
    );
    for (const m of messages) await sendOk(ledger, governance, root.address, m.value, m.body, m.init);
}

// Step 2: one verifier per key on loopback, in development mode (simulated evidence accepted).
// The last one started is the first in the list and gathers the others' signatures.
export async function startLocalVerifiers(
    o: { root: SandboxContract<Root>; chain: ChainAccess; keys: KeyPair[]; dir: string; validitySeconds: number },
    closers: Closer[],
): Promise<string[]> {
    const urls: string[] = [];
    for (const [i, key] of [...o.keys].reverse().entries()) {
        const store = new VerifierStore(join(o.dir, `verifier-${i}.sqlite`));
        closers.push(() => store.close());
        const attestor = new Attestor({
            store,
            key,
            root: o.root.address,
            globalId: LOCAL_GLOBAL_ID,
            allowlist: { isAllowed: async (m) => o.root.getIsMeasurementAllowed(bufferToBigInt(m)) },
            collateral: noCollateral(),
            policy: DEFAULT_TCB_POLICY,
            validitySeconds: o.validitySeconds,
            nonceTtlSeconds: 600,
            devMode: true,
            now: o.chain.now,
            peers: urls.map((url) => httpPeer(url, url)),
            threshold: urls.length + 1,
        });
        // (a sealing secret per verifier, for this run: sealed keys outlive a worker's restart, not the network's)
        const sealer = new Sealer({ ...attestor.o, secret: randomBytes(32) });
        const app = await buildVerifierServer({ attestor, sealer, store, devMode: true, rateLimitPerMinute: 10_000 });
        urls.unshift(await app.listen({ host: '127.0.0.1', port: 0 }));
        closers.push(() => app.close());
    }
    return urls;
}

// Step 3: the worker with the built-in backend, which can be stopped and started again (same
// port and database: the listing names the URL, the meter keeps its receipts).
// Starts and stops a worker for `o.provider` (the network's own by default), paid from `o.wallet`;
// `slot` gets the running worker and its URL (the network itself, or another provider's record).
function workerControl(
    net: LocalNetwork,
    o: { backendUrl: string; dir: string; provider?: Address; wallet?: SandboxContract<TreasuryContract> },
    slot: { worker: Worker; workerUrl: string } = net,
): Pick<LocalNetwork, 'startWorker' | 'stopWorker'> {
    let app: FastifyInstance | undefined;
    let meter: Meter | undefined;
    return {
        async startWorker(w = {}) {
            meter = new Meter(join(o.dir, 'worker.sqlite'), LOCAL_GLOBAL_ID);
            const provider = o.provider ?? net.provider;
            const worker = await Worker.create({
                provider,
                globalId: LOCAL_GLOBAL_ID,
                chain: net.chain,
                sender: net.ledger.sender(o.wallet ?? net.workerWallet),
                verifiers: net.verifierUrls,
                backend: openAiBackend(o.backendUrl),
                models: [DEMO_MODEL],
                modelHash: DEMO_MODEL_HASH,
                meter,
                evidence: { tsmDir: join(o.dir, 'no-tsm'), allowSimulated: true },
                claim: {
                    minAmount: toNano('1000'),
                    intervalSeconds: 86_400,
                    deadlineMarginSeconds: 600,
                    finalizeAbandonedAfterSeconds: 7 * 86_400,
                    ...w.claim,
                },
                refreshMarginSeconds: 3600,
                sessionCacheSeconds: w.sessionCacheSeconds ?? 3,
                maxConcurrentPerSession: w.maxConcurrentPerSession ?? 8,
                perSessionPerMinute: w.perSessionPerMinute ?? 6000,
                answerRetentionSeconds: w.answerRetentionSeconds ?? 600,
                sealedKeys: w.sealedKeys
                    ? localSealedKeys(o.dir, provider, net.verifierUrls, net.chain, async () => net.root.address)
                    : undefined,
                confirmTimeoutMs: 1000,
                log: quiet,
            });
            app = await buildWorkerServer(worker);
            // A restart keeps the port the Provider lists; the first start takes one a restart can get back.
            const port = slot.workerUrl ? Number(new URL(slot.workerUrl).port) : await restartablePort();
            slot.workerUrl = await app.listen({ host: '127.0.0.1', port });
            slot.worker = worker;
            return worker;
        },
        async stopWorker() {
            await app?.close();
            meter?.close();
            app = undefined;
            meter = undefined;
        },
    };
}

// Keys sealed as a production worker seals them: under a key from the sealing shares of the
// network's verifiers (worker/src/sealed-keys.ts verifierSealingSource), released to the simulated
// TD of the demo's code (development verifiers accept its evidence).
export function localSealedKeys(
    dir: string,
    provider: Address,
    verifiers: string[],
    chain: ChainAccess,
    root: () => Promise<Address>,
): SealedKeys {
    const source = verifierSealingSource({
        verifiers,
        provider,
        globalId: LOCAL_GLOBAL_ID,
        modelHash: DEMO_MODEL_HASH,
        evidence: async (binding) => ({ kind: 'simulated', reportData: sealingReportData(binding) }),
        verifierSet: async () => readRootVerifierSet(chain, await root()),
    });
    return new SealedKeys(join(dir, 'worker.keys'), source, sealingContext(provider, LOCAL_GLOBAL_ID, DEMO_MODEL_HASH));
}

// What the demo's GPU owner lists: one H100, the built-in backend's model at `endpoint`.
export function demoListing(endpoint: string, o: { prices?: PriceRates; modelHash?: Buffer } = {}): ListingInput {
    return {
        gpuModel: 'NVIDIA H100 80GB HBM3',
        gpuCount: 1,
        vramGb: 80,
        endpoint,
        models: [{ name: DEMO_MODEL, prices: o.prices ?? DEMO_PRICES, modelHash: o.modelHash ?? DEMO_MODEL_HASH }],
    };
}

// Step 4: the GPU owner registers its Provider, listing the demo model at the worker's URL, and
// stakes 50 TON more.
export async function registerLocalProvider(
    net: LocalNetwork,
    stakeTon: string,
    o: { owner?: SandboxContract<TreasuryContract>; endpoint?: string; prices?: PriceRates } = {},
) {
    const owner = o.owner ?? net.gpuOwner;
    const provider = await providerForOwner(net.root.address, owner.address);
    const register = storeRegister({ $$type: 'Register', queryId: 0n, listing: buildListing(demoListing(o.endpoint ?? net.workerUrl, o)) });
    await sendOk(net.ledger, owner, provider.address, toNano(stakeTon), cell(register), provider.init!);
    await sendOk(net.ledger, owner, provider.address, toNano('50'), cell(storeStake({ $$type: 'Stake', queryId: 0n })));
}

export interface ExtraProvider {
    name: string;
    provider: Address;
    worker: Worker;
    workerUrl: string;
    startWorker(o?: WorkerOptions): Promise<Worker>;
    stopWorker(): Promise<void>;
}

// Another GPU owner on the local network: its Provider registered and staked, listing the demo
// model at `prices`, and its own worker (the same built-in backend) attested. Stopped with the network.
export async function addLocalProvider(net: LocalNetwork, name: string, o: { prices?: PriceRates } = {}): Promise<ExtraProvider> {
    const [owner, wallet] = await Promise.all([`${name} owner`, `${name} worker wallet`].map((n) => net.blockchain.treasury(n)));
    const provider = (await providerForOwner(net.root.address, owner.address)).address;
    const index = Number(await net.root.getProviderCount()) + 1;
    for (const [what, address] of [
        [`${name}: GPU owner`, owner.address],
        [`${name}: worker wallet`, wallet.address],
        [`${name}: Provider`, provider],
        [`${name}: Root's index entry`, (await providerEntryFor(net.root.address, index)).address],
    ] as const)
        await net.ledger.track(what, address);
    const dir = mkdtempSync(join(tmpdir(), `cocoon-${name.replace(/\W/g, '-')}-`));
    const extra = { name, provider, workerUrl: '' } as ExtraProvider;
    Object.assign(extra, workerControl(net, { backendUrl: net.backendUrl, dir, provider, wallet }, extra));
    await extra.startWorker();
    const stop = net.stop;
    net.stop = async () => {
        await extra.stopWorker();
        rmSync(dir, { recursive: true, force: true });
        await stop();
    };
    await registerLocalProvider(net, '150', { owner, endpoint: extra.workerUrl, prices: o.prices });
    await extra.worker.attest();
    return extra;
}

export async function startLocalNetwork(o: LocalNetworkOptions = {}): Promise<LocalNetwork> {
    const step = o.step ?? (() => undefined);
    const dir = mkdtempSync(join(tmpdir(), 'cocoon-local-'));
    const closers: Closer[] = [() => rmSync(dir, { recursive: true, force: true })];
    const closeAll = async () => {
        for (const c of closers.splice(0).reverse()) await c();
    };
    try {
        const blockchain = await Blockchain.create();
        blockchain.now = Math.floor(Date.now() / 1000);
        setGlobalId(blockchain, LOCAL_GLOBAL_ID);
        const chain = sandboxChain(blockchain);
        const ledger = new Ledger(blockchain);
        const [governance, gpuOwner, workerWallet, client] = await Promise.all(
            ['governance', 'gpu-owner', 'worker-wallet', 'client'].map((name) => blockchain.treasury(name)),
        );
        const params = o.params ?? EXAMPLE_PARAMS;
        const root = blockchain.openContract(await rootForDeployment({ owner: governance.address, globalId: LOCAL_GLOBAL_ID, params }));
        const provider = (await providerForOwner(root.address, gpuOwner.address)).address;
        const parties: [string, Address][] = [
            ['governance', governance.address],
            ['GPU owner', gpuOwner.address],
            ['worker wallet', workerWallet.address],
            ['client', client.address],
            ['Root', root.address],
            ['Provider', provider],
            ["Root's index entry of the provider", (await providerEntryFor(root.address, 1)).address],
        ];
        for (const [name, address] of parties) await ledger.track(name, address);

        step('Governance deploys Root and sets up two verifiers (2-of-2) and the development measurement');
        const verifierKeys = [0, 1].map(() => ed25519FromSeed(randomBytes(32)));
        await deployLocalRoot(ledger, governance, root, verifierKeys);

        step('Two TEE verifiers start on loopback (development mode: simulated evidence accepted)');
        const verifierUrls = await startLocalVerifiers(
            { root, chain, keys: verifierKeys, dir, validitySeconds: o.validitySeconds ?? 6 * 3600 },
            closers,
        );

        step('The built-in test backend (not a language model) and the worker start on loopback');
        const backend = await startEchoBackend();
        closers.push(() => backend.app.close());
        const net = {
            blockchain,
            chain,
            ledger,
            governance,
            gpuOwner,
            workerWallet,
            client,
            root,
            provider,
            verifierUrls,
            workerUrl: '', // set when the worker first listens
            backendUrl: backend.url,
            setBackendDelay: backend.setDelay,
        } as LocalNetwork;
        Object.assign(net, workerControl(net, { backendUrl: backend.url, dir }));
        closers.push(() => net.stopWorker());
        net.stop = closeAll;
        await net.startWorker();

        const stakeTon = o.stakeTon ?? '150';
        step(
            `The GPU owner registers its Provider with ${stakeTon} TON attached, listing ${DEMO_MODEL} at the worker's URL, then stakes 50 TON more`,
        );
        await registerLocalProvider(net, stakeTon);
        return net;
    } catch (e) {
        await closeAll();
        throw e;
    }
}
