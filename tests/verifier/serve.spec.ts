// `npm run verifier -- serve` as a process: it refuses to start without its configuration, and a
// running service names the problem when the chain endpoint is down, never leaking its key.
import { spawn, spawnSync } from 'child_process';
import { join } from 'path';
import { chmodSync, existsSync, writeFileSync } from 'fs';
import { randomBytes } from 'crypto';
import { createServer } from 'http';
import { Address, Cell } from '@ton/core';
import { GLOBAL_ID_TESTNET, bigIntToBuffer32, loadVerifierSignature, parseAttestationProof, verifyProofSignature } from '../../wrappers';
import { simulatedMeasurement } from '../../tee-verifier/src/attest';
import { NO_GPU_EVIDENCE } from '../../protocol/evidence';
import { expectedReportData } from '../../protocol/evidence';
import { encodeAttestationRequest } from '../../protocol/verifier-api';
import { VerifierStore } from '../../tee-verifier/src/store';
import { Chain, submitDueProofs } from '../../tee-verifier/src/submitter';
import { makeEnclave, seededKey, simulatedAttestation } from '../../testkit';
import { FIXTURES } from './fixtures';
import { tempDir } from '../tmp';
import { nodeArgs } from '../../testkit/compiled';

const ROOT = join(__dirname, '..', '..');
const CLI = [process.execPath, ...nodeArgs('tee-verifier/src/cli.ts')];
const SEED = '11'.repeat(32);
const SEALING_SECRET = randomBytes(32);
const root = new Address(0, Buffer.alloc(32, 5)).toString();

// Starts `serve` with `args` and waits until it listens; `output()` is everything it printed.
async function startService(args: string[], env: Record<string, string>) {
    const child = spawn(CLI[0], [...CLI.slice(1), ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const deadline = Date.now() + 30_000;
    while (!output.includes('verifier listening')) {
        if (child.exitCode !== null || Date.now() > deadline) {
            child.kill('SIGKILL');
            throw new Error(`the service did not start: ${output}`);
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    return {
        child,
        output: () => output,
        stop: async (signal: NodeJS.Signals) => {
            child.kill(signal);
            if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
        },
    };
}

// `serve` in development mode (so on testnet) on a loopback port; the endpoint defaults to one nobody answers.
function baseArgs(db: string, port: number, o: { root?: string; endpoint?: string } = {}) {
    return [
        'serve',
        '--root',
        o.root ?? root,
        '--network',
        'testnet',
        '--endpoint',
        o.endpoint ?? 'http://127.0.0.1:9/jsonRPC',
        '--collateral',
        join(FIXTURES, 'tdx_quote_collateral.json'),
        '--db',
        db,
        '--port',
        String(port),
        '--dev',
    ];
}

describe('verifier CLI: serve', () => {
    it('refuses to start without a signing key, saying where to put it', () => {
        const db = join(tempDir('serve'), 'v.sqlite');
        const r = spawnSync(CLI[0], [...CLI.slice(1), ...baseArgs(db, 18481)], {
            cwd: ROOT,
            encoding: 'utf8',
            env: { ...process.env, COCOON_VERIFIER_KEY: '' },
        });
        expect(r.status).toBe(64);
        expect(r.stderr.trim()).toBe(
            'error: the environment variable COCOON_VERIFIER_KEY must hold a 32-byte ed25519 seed as 64 hex characters',
        );
    });

    it('refuses to start without a collateral source outside development mode', () => {
        const db = join(tempDir('serve'), 'v.sqlite');
        const args = [
            ...baseArgs(db, 18482).filter((a, i, all) => a !== '--dev' && a !== '--collateral' && all[i - 1] !== '--collateral'),
            '--no-gpu',
        ];
        const r = spawnSync(CLI[0], [...CLI.slice(1), ...args], {
            cwd: ROOT,
            encoding: 'utf8',
            env: { ...process.env, COCOON_VERIFIER_KEY: SEED },
        });
        expect(r.status).toBe(64);
        expect(r.stderr).toContain('--collateral FILE (offline) or --pccs URL');
    });

    it('starts in development mode without collateral, saying that it refuses TDX quotes', async () => {
        const db = join(tempDir('serve'), 'v.sqlite');
        const args = baseArgs(db, 18483).filter((a, i, all) => a !== '--collateral' && all[i - 1] !== '--collateral');
        const service = await startService(args, { COCOON_VERIFIER_KEY: SEED, COCOON_VERIFIER_MNEMONIC: '' });
        await service.stop('SIGTERM');
        expect(service.output()).toContain('only simulated evidence can be checked, TDX quotes are refused');
    });

    it('refuses development mode on mainnet', () => {
        const db = join(tempDir('serve'), 'v.sqlite');
        const args = baseArgs(db, 18485).map((a) => (a === 'testnet' ? 'mainnet' : a));
        const r = spawnSync(CLI[0], [...CLI.slice(1), ...args], {
            cwd: ROOT,
            encoding: 'utf8',
            env: { ...process.env, COCOON_VERIFIER_KEY: SEED },
        });
        expect(r.status).toBe(64);
        expect(r.stderr.trim()).toBe(
            'error: --dev accepts simulated TEE evidence and is refused on mainnet: run development verifiers on testnet',
        );
        expect(JSON.parse(r.stdout)).toMatchObject({ accepted: false, code: 'usage' });
    });

    it('refuses a sealing secret that is short or that others than its owner can read', () => {
        const dir = tempDir('serve');
        const run = (secret: Buffer, mode: number) => {
            const file = join(dir, `secret-${mode.toString(8)}-${secret.length}`);
            writeFileSync(file, secret, { mode });
            chmodSync(file, mode);
            return spawnSync(CLI[0], [...CLI.slice(1), ...baseArgs(join(dir, 'v.sqlite'), 18486), '--sealing-secret-file', file], {
                cwd: ROOT,
                encoding: 'utf8',
                env: { ...process.env, COCOON_VERIFIER_KEY: SEED },
            });
        };
        const short = run(randomBytes(16), 0o600);
        expect([short.status, short.stderr]).toEqual([64, expect.stringMatching(/holds 16 bytes; at least 32 are needed/)]);
        const open = run(randomBytes(32), 0o644);
        expect([open.status, open.stderr]).toEqual([64, expect.stringMatching(/is readable by others than its owner: chmod 600/)]);
        expect(existsSync(join(dir, 'v.sqlite'))).toBe(false); // (refused before anything was created)
        const missing = spawnSync(
            CLI[0],
            [...CLI.slice(1), ...baseArgs(join(dir, 'v.sqlite'), 18487), '--sealing-secret-file', join(dir, 'absent')],
            {
                cwd: ROOT,
                encoding: 'utf8',
                env: { ...process.env, COCOON_VERIFIER_KEY: SEED },
            },
        );
        expect([missing.status, missing.stderr]).toEqual([64, expect.stringMatching(/--sealing-secret-file \S+absent: ENOENT/)]);
    });

    describe('running, with the chain endpoint down', () => {
        let service: Awaited<ReturnType<typeof startService>>;
        const port = 18483;

        beforeAll(async () => {
            const dir = tempDir('serve');
            writeFileSync(join(dir, 'sealing.secret'), SEALING_SECRET, { mode: 0o600 });
            service = await startService([...baseArgs(join(dir, 'v.sqlite'), port), '--sealing-secret-file', join(dir, 'sealing.secret')], {
                COCOON_VERIFIER_KEY: SEED,
                COCOON_VERIFIER_MNEMONIC: '',
            });
        });

        afterAll(() => service.stop('SIGTERM'));

        it('serves health and nonces, and answers 503 naming the endpoint problem when it cannot read the allowlist', async () => {
            const base = `http://127.0.0.1:${port}`;
            const health = await (await fetch(`${base}/health`)).json();
            expect(health).toMatchObject({ status: 'ok', devMode: true, sealing: true });
            const provider = new Address(0, Buffer.alloc(32, 6)).toString();
            const issued = await fetch(`${base}/v1/nonce`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ provider }),
            });
            const { nonce } = (await issued.json()) as { nonce: string };
            const keys = { signingKey: Buffer.alloc(32, 1), encryptionKey: Buffer.alloc(32, 2) };
            const reportData = expectedReportData({
                ...keys,
                provider: Address.parse(provider),
                nonce: BigInt(nonce),
                modelHash: Buffer.alloc(32, 3),
            });
            const res = await fetch(`${base}/v1/attest`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({
                    provider,
                    signingKey: keys.signingKey.toString('hex'),
                    encryptionKey: keys.encryptionKey.toString('hex'),
                    nonce,
                    modelHash: Buffer.alloc(32, 3).toString('hex'),
                    evidence: { kind: 'simulated', reportData: reportData.toString('hex') },
                }),
            });
            expect(res.status).toBe(503);
            const body = (await res.json()) as { error: string; message: string };
            expect(body.error).toBe('chain-unavailable');
            expect(body.message).toContain("cannot read Root's measurement allowlist");
        });

        it('warns about development mode and a missing wallet, and never prints its seed', () => {
            expect(service.output()).toContain('development mode');
            expect(service.output()).toContain('not submitted on-chain');
            expect(service.output()).not.toContain(SEED);
            expect(service.output()).not.toContain(SEALING_SECRET.toString('hex'));
        });
    });
});

// A TON HTTP API endpoint that answers the one getter the service needs before it accepts a
// proof: Root's is_measurement_allowed, true.
async function fakeTonEndpoint(): Promise<{ url: string; close: () => void; calls: string[] }> {
    const calls: string[] = [];
    const server = createServer((req, res) => {
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => {
            const call = JSON.parse(body) as { method: string; params: { method?: string } };
            calls.push(`${call.method}:${call.params.method ?? ''}`);
            res.setHeader('content-type', 'application/json');
            if (call.method === 'runGetMethod' && call.params.method === 'is_measurement_allowed') {
                res.end(JSON.stringify({ ok: true, result: { gas_used: 0, exit_code: 0, stack: [['num', '-0x1']] } }));
            } else {
                res.statusCode = 500;
                res.end(JSON.stringify({ ok: false, error: 'not emulated' }));
            }
        });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}/jsonRPC`, close: () => server.close(), calls };
}

// The chain side of a restarted verifier: records what it submits; the Provider then holds it.
function recordingChain() {
    const submitted: { provider: Address; proof: Cell; signatures: Cell }[] = [];
    const chain: Chain = {
        attestedIssuedAt: async () => (submitted.length ? parseAttestationProof(submitted[0].proof).issuedAt : 0),
        submit: async (provider, proof, signatures) => {
            submitted.push({ provider, proof, signatures });
        },
    };
    return { chain, submitted };
}

// Offline (a fake TON endpoint answers the allowlist getter; submission is recorded): what is
// tested is the outbox surviving SIGKILL. service.spec.ts shows an outbox proof landing on-chain.
describe('verifier CLI: serve, killed between accept and submit', () => {
    it('the accepted proof survives SIGKILL and is submitted after restart', async () => {
        const now = Math.floor(Date.now() / 1000);
        const provider = new Address(0, Buffer.alloc(32, 7));
        const ton = await fakeTonEndpoint();
        const db = join(tempDir('kill'), 'v.sqlite');
        const port = 18484;
        const verifierKey = seededKey('verifier-a');
        const seed = Buffer.from('verifier-a'.padEnd(32, '.')).toString('hex'); // seededKey('verifier-a')
        const service = await startService(baseArgs(db, port, { endpoint: ton.url }), {
            COCOON_VERIFIER_KEY: seed,
            COCOON_VERIFIER_MNEMONIC: '',
        });
        const enclave = makeEnclave('killed');
        try {
            const base = `http://127.0.0.1:${port}`;
            const issued = await fetch(`${base}/v1/nonce`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ provider: provider.toString() }),
            });
            const nonce = BigInt(((await issued.json()) as { nonce: string }).nonce);
            const binding = {
                signingKey: enclave.signing.publicKey,
                encryptionKey: enclave.encryption,
                provider,
                nonce,
                modelHash: Buffer.alloc(32, 3),
            };
            const res = await fetch(`${base}/v1/attest`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify(encodeAttestationRequest(simulatedAttestation(binding))),
            });
            expect(res.status).toBe(200);
        } finally {
            await service.stop('SIGKILL'); // no chance to flush or clean up
            ton.close();
        }
        expect(ton.calls).toContain('runGetMethod:is_measurement_allowed');

        // restart: the outbox still holds the proof, signed by this verifier, and submits it once
        const store = new VerifierStore(db);
        expect(store.dueProofs(now + 60)).toHaveLength(1);
        const { chain, submitted } = recordingChain();
        expect(await submitDueProofs({ store, chain, now: () => now + 60, maxAttempts: 3, baseDelaySeconds: 10 })).toEqual({
            submitted: 1,
            retried: 0,
            failed: 0,
        });
        expect(submitted).toHaveLength(1);
        const proof = parseAttestationProof(submitted[0].proof);
        expect(proof.provider.equals(provider)).toBe(true);
        expect(proof.globalId).toBe(GLOBAL_ID_TESTNET);
        expect(proof.measurement).toEqual(simulatedMeasurement(NO_GPU_EVIDENCE, Buffer.alloc(32, 3)));
        expect(proof.modelHash).toEqual(Buffer.alloc(32, 3));
        expect(proof.signingKey).toEqual(enclave.signing.publicKey);
        const link = loadVerifierSignature(submitted[0].signatures.beginParse());
        expect(link.next).toBeNull(); // one signature: threshold 1
        const signature = { publicKey: bigIntToBuffer32(link.publicKey), signature: link.signature };
        expect(signature.publicKey).toEqual(verifierKey.publicKey);
        expect(verifyProofSignature(submitted[0].proof, signature)).toBe(true);
        store.close();
    });
});
