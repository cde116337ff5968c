// `npm run verifier -- serve`: wires the verifier's parts together from the command line and the
// environment, and runs until SIGINT/SIGTERM. Secrets (the signing seed, the wallet mnemonic) come
// from the environment or files the operator names and are never logged.
import { Address } from '@ton/core';
import pino from 'pino';
import { GLOBAL_ID_MAINNET, GLOBAL_ID_TESTNET } from '../../wrappers';
import { Attestor } from './attest';
import { fileCollateral, noCollateral, pccsCollateral } from './collateral';
import { loadSigningKey } from './keys';
import { httpPeer } from './peer';
import { DEFAULT_TCB_POLICY } from './quote';
import { buildVerifierServer } from './server';
import { Sealer } from './sealing';
import { VerifierStore } from './store';
import { submitDueProofs } from './submitter';
import { proofSubmitter, rootAllowlist, rootVerifierSet } from './ton';
import { failoverChain, mnemonicWallet } from '../../protocol/chain';
import { nvidiaRoots } from './nvidia';
import { readFileSync, statSync } from 'fs';
import { UsageError, endpointsFromOptions } from '../../protocol/cli';

export interface ServeOptions {
    root: string;
    network: 'mainnet' | 'testnet';
    endpoint: string[];
    apiKeyEnv: string;
    keyFile?: string;
    keyEnv: string;
    walletMnemonicEnv: string;
    db: string;
    collateral?: string;
    pccs?: string;
    collateralCache: string;
    peer: string[];
    threshold: number;
    validity: number;
    allowAdvisory: string[];
    gpu: boolean; // false: --no-gpu
    gpuRim: string[];
    gpuOfflineRevocation: boolean;
    dev: boolean;
    host: string;
    port: number;
    rateLimit: number;
    sealingSecretFile?: string;
}

export async function runService(o: ServeOptions) {
    const log = pino({ name: 'cocoon-verifier' });
    let root: Address;
    try {
        root = Address.parse(o.root);
    } catch {
        throw new UsageError(`--root ${o.root} is not a TON address`);
    }
    // A development verifier's proofs must never be valid where real value is at stake.
    if (o.dev && o.network === 'mainnet') {
        throw new UsageError('--dev accepts simulated TEE evidence and is refused on mainnet: run development verifiers on testnet');
    }
    if (o.gpu && !o.dev && o.gpuRim.length === 0) {
        throw new UsageError(
            'name the RIMs that GPU evidence is checked against (--gpu-rim DRIVER.swidtag VBIOS.swidtag), or pass --no-gpu',
        );
    }
    // (a development verifier may check simulated evidence only: no collateral needed)
    if (!o.collateral && !o.pccs && !o.dev)
        throw new UsageError('name where collateral comes from: --collateral FILE (offline) or --pccs URL');
    const sealingSecret = o.sealingSecretFile ? readSealingSecret(o.sealingSecretFile) : undefined;
    const key = loadSigningKey(o.keyFile ? { file: o.keyFile } : { env: o.keyEnv });
    const chain = failoverChain(endpointsFromOptions(o.endpoint, o.apiKeyEnv));
    const store = new VerifierStore(o.db);
    const attestor = new Attestor({
        store,
        key,
        root,
        globalId: o.network === 'mainnet' ? GLOBAL_ID_MAINNET : GLOBAL_ID_TESTNET,
        allowlist: rootAllowlist(chain, root),
        collateral: o.collateral ? fileCollateral(o.collateral) : o.pccs ? pccsCollateral(o.pccs, o.collateralCache) : noCollateral(),
        policy: { ...DEFAULT_TCB_POLICY, allowedAdvisories: o.allowAdvisory },
        validitySeconds: o.validity,
        nonceTtlSeconds: 600,
        devMode: o.dev,
        now: () => Math.floor(Date.now() / 1000),
        peers: o.peer.map((url) => httpPeer(url, url)),
        threshold: o.threshold,
        verifierSet: rootVerifierSet(chain, root),
        gpu: {
            required: o.gpu && !o.dev,
            trust: o.gpuRim.length
                ? {
                      ...nvidiaRoots(),
                      rims: o.gpuRim.map((f) => readFileSync(f, 'utf8')),
                      revocation: o.gpuOfflineRevocation ? 'offline' : 'required',
                  }
                : undefined,
        },
    });
    if (o.dev) log.warn('development mode: simulated TEE evidence is accepted; never run this in production');
    if (!o.collateral && !o.pccs) log.warn('no --collateral or --pccs: only simulated evidence can be checked, TDX quotes are refused');
    const sealer = sealingSecret ? new Sealer({ ...attestor.o, secret: sealingSecret }) : undefined;

    const app = await buildVerifierServer({
        attestor,
        sealer,
        store,
        devMode: o.dev,
        rateLimitPerMinute: o.rateLimit,
        logger: { name: 'cocoon-verifier-http' },
    });
    await app.listen({ host: o.host, port: o.port });
    log.info(
        { publicKey: key.publicKey.toString('hex'), root: root.toString(), network: o.network, threshold: o.threshold },
        'verifier listening',
    );

    let timer: NodeJS.Timeout | undefined;
    const mnemonic = process.env[o.walletMnemonicEnv]?.trim().split(/\s+/);
    if (mnemonic && mnemonic.length === 24) {
        const submitter = proofSubmitter(chain, (await mnemonicWallet(chain, mnemonic)).sender);
        const tick = async () => {
            try {
                const r = await submitDueProofs({
                    store,
                    chain: submitter,
                    now: () => Math.floor(Date.now() / 1000),
                    maxAttempts: 12,
                    baseDelaySeconds: 15,
                });
                if (r.submitted + r.retried + r.failed > 0) log.info(r, 'outbox');
            } catch (e) {
                log.error({ err: (e as Error).message }, 'outbox pass failed');
            }
            timer = setTimeout(tick, 10_000);
        };
        void tick();
    } else {
        log.warn(`${o.walletMnemonicEnv} holds no 24-word mnemonic: proofs are returned to callers but not submitted on-chain`);
    }

    const stop = async () => {
        if (timer) clearTimeout(timer);
        await app.close();
        store.close();
        process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
}

// The sealing secret: at least 32 bytes, the file readable by its owner only (with the worker's
// measurement it derives every sealing share this verifier releases; keep it as the signing seed).
function readSealingSecret(path: string): Buffer {
    let secret: Buffer;
    try {
        secret = readFileSync(path);
    } catch (e) {
        throw new UsageError(`--sealing-secret-file ${path}: ${(e as Error).message}`);
    }
    if (secret.length < 32)
        throw new UsageError(
            `--sealing-secret-file ${path} holds ${secret.length} bytes; at least 32 are needed (head -c 32 /dev/urandom > ${path})`,
        );
    if ((statSync(path).mode & 0o077) !== 0)
        throw new UsageError(`--sealing-secret-file ${path} is readable by others than its owner: chmod 600 ${path}`);
    return secret;
}
