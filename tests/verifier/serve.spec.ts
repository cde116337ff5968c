// `npm run verifier -- serve` as a process: it refuses to start without its configuration, and a
// running service names the problem when the chain endpoint is down, never leaking its key.
import { ChildProcess, spawn, spawnSync } from 'child_process';
import { mkdtempSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Address } from '@ton/core';
import { FIXTURES } from './fixtures';

const ROOT = join(__dirname, '..', '..');
const CLI = [process.execPath, '-r', 'ts-node/register/transpile-only', join(ROOT, 'tee-verifier/src/cli.ts')];
const SEED = '11'.repeat(32);
const root = new Address(0, Buffer.alloc(32, 5)).toString();

function baseArgs(db: string, port: number) {
    return [
        'serve',
        '--root',
        root,
        '--endpoint',
        'http://127.0.0.1:9/jsonRPC',
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
        const db = join(mkdtempSync(join(tmpdir(), 'cocoon-serve-')), 'v.sqlite');
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

    it('refuses to start without a collateral source', () => {
        const db = join(mkdtempSync(join(tmpdir(), 'cocoon-serve-')), 'v.sqlite');
        const args = baseArgs(db, 18482).filter((a, i, all) => a !== '--collateral' && all[i - 1] !== '--collateral');
        const r = spawnSync(CLI[0], [...CLI.slice(1), ...args], {
            cwd: ROOT,
            encoding: 'utf8',
            env: { ...process.env, COCOON_VERIFIER_KEY: SEED },
        });
        expect(r.status).toBe(64);
        expect(r.stderr).toContain('--collateral FILE (offline) or --pccs URL');
    });

    describe('running, with the chain endpoint down', () => {
        let child: ChildProcess;
        let output = '';
        const port = 18483;

        beforeAll(async () => {
            const db = join(mkdtempSync(join(tmpdir(), 'cocoon-serve-')), 'v.sqlite');
            child = spawn(CLI[0], [...CLI.slice(1), ...baseArgs(db, port)], {
                cwd: ROOT,
                env: { ...process.env, COCOON_VERIFIER_KEY: SEED, COCOON_VERIFIER_MNEMONIC: '' },
            });
            child.stdout!.on('data', (d) => (output += d));
            child.stderr!.on('data', (d) => (output += d));
            const deadline = Date.now() + 30_000;
            while (!output.includes('verifier listening')) {
                if (Date.now() > deadline) throw new Error(`the service did not start: ${output}`);
                await new Promise((r) => setTimeout(r, 100));
            }
        });

        afterAll(async () => {
            child.kill('SIGTERM');
            await new Promise((r) => child.once('exit', r));
        });

        it('serves health and nonces, and answers 503 naming the endpoint problem when it cannot read the allowlist', async () => {
            const base = `http://127.0.0.1:${port}`;
            const health = await (await fetch(`${base}/health`)).json();
            expect(health).toMatchObject({ status: 'ok', devMode: true });
            const provider = new Address(0, Buffer.alloc(32, 6)).toString();
            const issued = await fetch(`${base}/v1/nonce`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ provider }),
            });
            const { nonce } = (await issued.json()) as { nonce: string };
            const { expectedReportData } = await import('../../tee-verifier/src/measurement');
            const keys = { signingKey: Buffer.alloc(32, 1), encryptionKey: Buffer.alloc(32, 2) };
            const reportData = expectedReportData({ ...keys, provider: Address.parse(provider), nonce: BigInt(nonce) });
            const res = await fetch(`${base}/v1/attest`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({
                    provider,
                    signingKey: keys.signingKey.toString('hex'),
                    encryptionKey: keys.encryptionKey.toString('hex'),
                    nonce,
                    evidence: { kind: 'simulated', reportData: reportData.toString('hex') },
                }),
            });
            expect(res.status).toBe(503);
            const body = (await res.json()) as { error: string; message: string };
            expect(body.error).toBe('chain-unavailable');
            expect(body.message).toContain("cannot read Root's measurement allowlist");
        });

        it('warns about development mode and a missing wallet, and never prints its seed', () => {
            expect(output).toContain('development mode');
            expect(output).toContain('not submitted on-chain');
            expect(output).not.toContain(SEED);
        });
    });
});
