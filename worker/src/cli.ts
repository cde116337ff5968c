#!/usr/bin/env node
// `npm run worker -- <command>`: the worker's command line.
//   serve         run the worker: attest, serve clients on loopback, claim, refresh
//   echo-backend  run the built-in OpenAI-compatible test backend (not a language model)
import { existsSync, statSync, writeFileSync } from 'fs';
import { Command, Option } from 'commander';
import pino from 'pino';
import { Address, fromNano, toNano } from '@ton/core';
import { FINALIZE_ABANDONED_VALUE, GLOBAL_ID_MAINNET, GLOBAL_ID_TESTNET, providerForOwner } from '../../wrappers';
import { ChainAccess, WALLET_VERSIONS, WalletVersion, failoverChain, mnemonicWallet } from '../../protocol/chain';
import { logOutput, withProgress } from '../../protocol/progress';
import { ENDPOINT_HELP, UsageError, endpointsFromOptions, positiveInt } from '../../protocol/cli';
import { openAiBackend } from './backend';
import { startEchoBackend } from './echo-backend';
import {
    PINNED_VERIFIERS_FILE,
    SealedKeys,
    fileSealingSource,
    readPinnedVerifierSet,
    readRootVerifierSet,
    sealingContext,
    verifierSealingSource,
} from './sealed-keys';
import { TSM_REPORT_DIR, sealingEvidence, teeKind } from './evidence';
import { refuseDevModeWhereItCouldPass } from './dev-guard';
import { NVATTEST_COMMAND, collectGpuEvidence } from './gpu-evidence';
import { modelHash } from './model-hash';
import { BackendRefused, requireBackendInsideTd } from './backend-target';
import { Meter } from './meter';
import { buildWorkerServer } from './server';
import { DEFAULT_CLAIM_POLICY, Worker } from './worker';

function address(flag: string, v: string): Address {
    try {
        return Address.parse(v);
    } catch {
        throw new UsageError(`${flag} ${v} is not a TON address`);
    }
}

export interface ServeOptions {
    root: Address;
    owner: Address;
    network: 'mainnet' | 'testnet';
    endpoint: string[];
    apiKeyEnv: string;
    walletMnemonicEnv: string;
    walletVersion: WalletVersion; // v5r1 puts up to 200 claims in one transfer, v4 four
    verifier: string[];
    backend: string;
    backendKeyEnv: string;
    model: string[];
    modelHash?: Buffer;
    modelDir?: string;
    db: string;
    tsm: string;
    dev: boolean;
    gpuEvidence?: 'nvattest' | 'none'; // default: nvattest, or none with --dev
    gpuEvidenceCommand?: string;
    host: string;
    port: number;
    claimMin: string;
    claimInterval: number;
    finalizeAbandonedAfter: number | null;
    tick: number;
    sessionCache: number;
    maxConcurrentPerSession: number;
    answerRetention: number;
    rateLimitPerSession: number;
    trustProxy?: string[];
    sealedKeys?: string;
    sealKeyFile?: string;
    sealWithVerifiers?: boolean;
}

// The hash of the model this worker attests to serve. Outside --dev the worker computes it from
// the files (--model-dir), the same read-only files the backend loads inside the TD: a hash typed
// on the command line would be the operator's word, not a measurement (outside review, H1).
// --model-hash then only confirms it; alone it is accepted in development mode.
async function servedModel(o: Pick<ServeOptions, 'dev' | 'modelDir' | 'modelHash'>, log: pino.Logger): Promise<Buffer> {
    if (!o.modelDir) {
        if (!o.dev || !o.modelHash) {
            throw new UsageError(
                "--model-dir is needed: the worker hashes the model's files itself (the directory the backend loads, mounted read-only in the TD); --model-hash alone is accepted only with --dev",
            );
        }
        return o.modelHash;
    }
    if (!existsSync(o.modelDir) || !statSync(o.modelDir).isDirectory())
        throw new UsageError(`--model-dir ${o.modelDir} is not a directory`);
    let logged = -1;
    const { hash } = await modelHash(o.modelDir, (done, total) => {
        const tenth = total === 0 ? 10 : Math.floor((done * 10) / total);
        if (tenth !== logged) {
            logged = tenth;
            log.info({ dir: o.modelDir, percent: tenth * 10, gigabytes: (total / 1e9).toFixed(2) }, 'hashing the model files');
        }
    });
    if (o.modelHash && !o.modelHash.equals(hash)) {
        throw new UsageError(
            `the files in ${o.modelDir} hash to ${hash.toString('hex')}, not the --model-hash ${o.modelHash.toString('hex')} given`,
        );
    }
    log.info({ modelHash: hash.toString('hex') }, 'model hashed');
    return hash;
}

// The backend, which must run inside the TD unless in development mode (backend-target.ts).
function backendOrUsageError(spec: string, dev: boolean) {
    try {
        return requireBackendInsideTd(spec, dev);
    } catch (e) {
        if (e instanceof BackendRefused) throw new UsageError(e.message);
        throw e;
    }
}

// How the GPUs' evidence is collected: nvattest (the default), or not at all, which only
// development mode allows: Cocoon attests TDX plus an NVIDIA confidential GPU.
function gpuCollector(o: Pick<ServeOptions, 'dev' | 'gpuEvidence' | 'gpuEvidenceCommand'>) {
    const source = o.gpuEvidence ?? (o.dev ? 'none' : 'nvattest');
    if (source === 'none') {
        if (!o.dev) {
            throw new UsageError(
                '--gpu-evidence none needs --dev: a production worker proves its NVIDIA GPU in confidential-computing mode (nvattest)',
            );
        }
        return undefined;
    }
    const command = o.gpuEvidenceCommand?.trim().split(/\s+/) ?? NVATTEST_COMMAND;
    return (nonce: Buffer) => collectGpuEvidence(nonce, command);
}

// --sealed-keys needs a sealing key source: the verifiers' sealing shares (production), or the
// development secret file, whose reader can unseal the keys and which is refused outside --dev
// (see sealed-keys.ts).
function sealedKeysOrUsageError(o: ServeOptions, provider: Address, modelHash: Buffer, chain: ChainAccess): SealedKeys | undefined {
    if (o.sealKeyFile && !o.dev) {
        throw new UsageError(
            '--seal-key-file needs --dev: whoever reads that file can read the enclave keys; in production seal with --seal-with-verifiers',
        );
    }
    if (o.sealKeyFile && o.sealWithVerifiers) throw new UsageError('give one sealing key source: --seal-with-verifiers or --seal-key-file');
    if (!o.sealedKeys) {
        if (o.sealKeyFile || o.sealWithVerifiers)
            throw new UsageError('a sealing key source needs --sealed-keys FILE (where the sealed keys are kept)');
        return undefined;
    }
    if (!o.sealKeyFile && !o.sealWithVerifiers) {
        throw new UsageError(
            "--sealed-keys needs a sealing key source: --seal-with-verifiers (the verifiers release it to this TD's code) or --seal-key-file FILE (development, with --dev); without --sealed-keys the keys live in memory only and a restart needs new sessions",
        );
    }
    if (o.sealWithVerifiers && !o.dev && !existsSync(PINNED_VERIFIERS_FILE)) {
        throw new UsageError(
            `--seal-with-verifiers needs the verifiers pinned in the image at ${PINNED_VERIFIERS_FILE} ({"threshold": N, "keys": [...]}): the host chooses the chain endpoints, which could name verifiers of its own`,
        );
    }
    const globalId = o.network === 'mainnet' ? GLOBAL_ID_MAINNET : GLOBAL_ID_TESTNET;
    const source = o.sealKeyFile
        ? fileSealingSource(o.sealKeyFile)
        : verifierSealingSource({
              verifiers: o.verifier,
              provider,
              globalId,
              modelHash,
              evidence: (binding) => sealingEvidence(binding, { tsmDir: o.tsm, allowSimulated: o.dev, gpu: gpuCollector(o) }),
              // (the host chooses the chain endpoints: production trusts only the verifiers pinned in the image)
              verifierSet: async () => (o.dev ? readRootVerifierSet(chain, o.root) : readPinnedVerifierSet()),
          });
    return new SealedKeys(o.sealedKeys, source, sealingContext(provider, globalId, modelHash));
}

export async function runWorker(o: ServeOptions) {
    const log = pino({ name: 'cocoon-worker' });
    refuseDevModeWhereItCouldPass(o);
    const backend = backendOrUsageError(o.backend, o.dev);
    const gpu = gpuCollector(o);
    const mnemonic = process.env[o.walletMnemonicEnv]?.trim().split(/\s+/);
    if (!mnemonic || mnemonic.length !== 24) {
        throw new UsageError(
            `the environment variable ${o.walletMnemonicEnv} must hold the 24-word mnemonic of the worker's wallet (it pays for attestation submissions and claims; claims pay the Provider's owner)`,
        );
    }
    const kind = teeKind({ tsmDir: o.tsm, allowSimulated: o.dev });
    if (kind === 'simulated')
        log.warn('development mode: simulated evidence; only development verifiers accept it and no production Root allowlists it');
    const servedModelHash = await servedModel(o, log);
    // (--dev: the devnet's clock, which an admin moves forward)
    const chain = failoverChain(endpointsFromOptions(o.endpoint, o.apiKeyEnv), { followChainClock: o.dev });
    const wallet = await mnemonicWallet(chain, mnemonic, { version: o.walletVersion, testnet: o.network === 'testnet' });
    const provider = (await providerForOwner(o.root, o.owner)).address;
    const sealedKeys = sealedKeysOrUsageError(o, provider, servedModelHash, chain);
    const meter = new Meter(o.db, o.network === 'mainnet' ? GLOBAL_ID_MAINNET : GLOBAL_ID_TESTNET);
    const worker = await Worker.create({
        provider,
        globalId: o.network === 'mainnet' ? GLOBAL_ID_MAINNET : GLOBAL_ID_TESTNET,
        chain,
        sender: wallet.sender,
        verifiers: o.verifier,
        backend: openAiBackend(backend, { apiKey: process.env[o.backendKeyEnv] }),
        models: o.model,
        modelHash: servedModelHash,
        meter,
        evidence: { tsmDir: o.tsm, allowSimulated: o.dev, gpu },
        claim: {
            ...DEFAULT_CLAIM_POLICY,
            minAmount: toNano(o.claimMin),
            intervalSeconds: o.claimInterval,
            finalizeAbandonedAfterSeconds: o.finalizeAbandonedAfter,
        },
        refreshMarginSeconds: 3600,
        sessionCacheSeconds: o.sessionCache,
        maxConcurrentPerSession: o.maxConcurrentPerSession,
        perSessionPerMinute: o.rateLimitPerSession,
        answerRetentionSeconds: o.answerRetention,
        sealedKeys,
        confirmTimeoutMs: 90_000,
        log,
    });
    log.info({ provider: provider.toString(), wallet: wallet.address.toString(), tee: kind, models: o.model }, 'worker starting');
    if (await worker.attestationDue()) {
        // (a minute or more on a real network: the verifiers co-sign, the wallet's transfer lands, the
        // Provider takes the proof; a line every 10 s says the worker is at it, not stuck)
        const what = "first attestation round: the verifiers' proof, its transfer, the Provider holding it";
        await withProgress(what, () => worker.attest(), { output: logOutput((text) => log.info(text), 10_000) });
    } else log.info({ validUntil: worker.identity().attestedUntil }, 'the Provider holds a valid attestation of these keys');
    const app = await buildWorkerServer(worker, {
        logger: { name: 'cocoon-worker-http' },
        trustProxy: o.trustProxy,
    });
    await app.listen({ host: o.host, port: o.port });
    log.info({ host: o.host, port: o.port }, 'serving clients');

    let timer: NodeJS.Timeout | undefined;
    let stopping = false;
    let pass: Promise<void> = Promise.resolve();
    const loop = () => {
        pass = worker.tick().finally(() => {
            if (!stopping) timer = setTimeout(loop, o.tick * 1000);
        });
    };
    timer = setTimeout(loop, o.tick * 1000);
    const stop = async () => {
        if (stopping) return;
        stopping = true;
        clearTimeout(timer);
        await app.close();
        await pass.catch(() => undefined); // (a pass under way first: two at once would send the same claims twice)
        // one last pass so that what was served is claimed before the keys are gone
        await worker
            .claimDue(true)
            .catch((e) => log.error({ err: (e as Error).message }, 'final claim failed; claim later with the stored receipts'));
        meter.close();
        process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
}

const program = new Command('cocoon-worker').description('Cocoon worker: serves attested, encrypted, metered inference for a Provider');

program
    .command('serve')
    .description('attest the enclave keys, serve clients, claim receipts and refresh the attestation')
    .requiredOption('--root <address>', 'Root contract address', (v) => address('--root', v))
    .requiredOption('--owner <address>', "the Provider owner's wallet (the Provider address derives from it)", (v) => address('--owner', v))
    .addOption(new Option('--network <name>', 'network the Root is on').choices(['mainnet', 'testnet']).default('testnet'))
    .option('--endpoint <url...>', ENDPOINT_HELP, ['https://testnet.toncenter.com/api/v2/jsonRPC'])
    .option('--api-key-env <name>', 'environment variable holding the API key of a single --endpoint', 'TONCENTER_API_KEY')
    .option('--wallet-mnemonic-env <name>', "environment variable holding the worker wallet's 24-word mnemonic", 'COCOON_WORKER_MNEMONIC')
    .addOption(
        new Option(
            '--wallet-version <version>',
            "the worker wallet's contract: a pass's claims go out in transfers of 4 messages (v3r2, v4) or 200 (v5r1)",
        )
            .choices([...WALLET_VERSIONS])
            .default('v4'),
    )
    .requiredOption('--verifier <url...>', 'TEE verifiers to ask for proofs, tried in order')
    .requiredOption(
        '--backend <url>',
        'OpenAI-compatible server (vLLM, llama.cpp server...) inside the TD: http://127.0.0.1:PORT or unix:/path/to.sock (any URL with --dev)',
    )
    .option('--backend-key-env <name>', "environment variable holding the backend's API key, if it needs one", 'COCOON_BACKEND_KEY')
    .requiredOption('--model <name...>', "model names the backend serves, as in the Provider's listing")
    .option(
        '--model-hash <hex>',
        "the model's hash as listed (npm run worker -- model-hash DIR): checked against --model-dir; alone only with --dev",
        (v) => {
            if (!/^[0-9a-fA-F]{64}$/.test(v) || /^0+$/.test(v))
                throw new UsageError(`--model-hash must be 64 hex digits (not all zero), got ${v}`);
            return Buffer.from(v, 'hex');
        },
    )
    .option('--model-dir <dir>', "the model's files the backend loads (read-only in the TD): the worker hashes them at start")
    .option('--db <file>', 'SQLite file for receipts (they survive restarts)', 'worker.sqlite')
    .option('--tsm <dir>', 'configfs-tsm report directory', TSM_REPORT_DIR)
    .option('--dev', 'development mode: simulated evidence when there is no TDX, no GPU evidence, any backend (never in production)', false)
    .addOption(
        new Option(
            '--gpu-evidence <source>',
            'how GPU evidence is collected: nvattest (NVIDIA Attestation CLI), or none (only with --dev)',
        ).choices(['nvattest', 'none']),
    )
    .option('--gpu-evidence-command <command>', `the nvattest command line, before --nonce (default: ${NVATTEST_COMMAND.join(' ')})`)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', (v) => positiveInt('--port', v), 8443)
    .option('--claim-min <ton>', 'claim a session once this much is unclaimed', '1')
    .option('--claim-interval <seconds>', 'or this long after its last claim', (v) => positiveInt('--claim-interval', v), 3600)
    .option(
        '--finalize-abandoned-after <seconds>',
        `finalize a session this long after its claim window if its client has not (releasing the Provider's collateral; attaches ${fromNano(FINALIZE_ABANDONED_VALUE)} TON, about 0.02 TON is spent and the rest comes back), or off`,
        (v) => {
            if (v === 'off') return null;
            if (!/^[1-9][0-9]*$/.test(v)) throw new UsageError(`--finalize-abandoned-after must be a number of seconds or off, got ${v}`);
            return Number(v);
        },
        DEFAULT_CLAIM_POLICY.finalizeAbandonedAfterSeconds,
    )
    .option(
        '--tick <seconds>',
        'seconds between background passes (attestation refresh, acknowledging new sessions, claims)',
        (v) => positiveInt('--tick', v),
        30,
    )
    .option(
        '--session-cache <seconds>',
        "how long a session's status and budget read from the chain are trusted (a request accepted this long after a close is served unpaid)",
        (v) => positiveInt('--session-cache', v),
        3,
    )
    .option(
        '--max-concurrent-per-session <n>',
        'requests of one session served at once',
        (v) => positiveInt('--max-concurrent-per-session', v),
        8,
    )
    .option(
        '--answer-retention <seconds>',
        'how long answers are kept (encrypted) for clients that retry a request',
        (v) => positiveInt('--answer-retention', v),
        600,
    )
    .option('--rate-limit-per-session <n>', 'chat requests per session per minute', (v) => positiveInt('--rate-limit-per-session', v), 6000)
    .option(
        '--trust-proxy <addresses>',
        'comma-separated addresses or CIDRs of proxies whose X-Forwarded-For names the client (the TLS proxy in front of the worker)',
        (v) =>
            v
                .split(',')
                .map((a) => a.trim())
                .filter(Boolean),
    )
    .option('--sealed-keys <file>', 'keep the enclave keys across restarts, sealed in this file, so that open sessions go on')
    .option(
        '--seal-with-verifiers',
        "with --sealed-keys: the sealing key derives from every --verifier's sealing share, released only to this TD's code (verifiers started with --sealing-secret-file)",
    )
    .option('--seal-key-file <file>', 'development only (--dev): the secret the sealing key derives from (32 bytes or more)')
    .action(async (opts: ServeOptions) => runWorker(opts));

program
    .command('echo-backend')
    .description('run the built-in test backend: OpenAI-compatible, quotes the prompt back; NOT a language model')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', (v) => positiveInt('--port', v), 8000)
    .option('--socket <path>', 'listen on this unix socket instead of host and port')
    .option('--delay <ms>', 'answer this many milliseconds late (a slow model, for tests of clients and restarts)', (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new UsageError(`--delay must be a whole number of milliseconds, got ${v}`);
        return n;
    })
    .action(async (opts: { host: string; port: number; socket?: string; delay?: number }) => {
        const { url } = await startEchoBackend({ ...opts, delayMs: opts.delay });
        console.log(`built-in test backend (not a language model) at ${url}${opts.socket ? ' ' : ''}/v1/chat/completions`);
    });

program
    .command('model-hash')
    .description("hash a model's files (weights, tokenizer, configuration): the identity listings and attestations name")
    .argument('<dir>', "the model's directory (a Hugging Face snapshot or a local copy)")
    .option('--manifest <file>', 'also write the manifest the hash is taken over (one line per file)')
    .option('--quiet', 'no progress, only the hash (also COCOON_QUIET=1)', false)
    .action(async (dir: string, opts: { manifest?: string; quiet: boolean }) => {
        if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${dir} is not a directory`);
        // (a spinner with the share hashed on a terminal; a start and an end line elsewhere)
        const { hash, manifest } = await withProgress(
            `hashing ${dir}`,
            (shown) =>
                modelHash(dir, (done, total) =>
                    shown.update(`${total === 0 ? 100 : Math.floor((done * 100) / total)}% of ${(total / 1e9).toFixed(2)} GB`),
                ),
            { quiet: opts.quiet },
        );
        if (opts.manifest) writeFileSync(opts.manifest, manifest);
        console.log(hash.toString('hex'));
    });

program.exitOverride();
program.parseAsync(process.argv).catch((e) => {
    if (e instanceof UsageError || e?.name === 'EvidenceUnavailable') {
        console.error(`error: ${e.message}`);
        process.exit(64);
    }
    const code = (e as { exitCode?: number }).exitCode;
    if (code === undefined) console.error(`error: ${(e as Error).message}`);
    process.exit(code ?? 1);
});
