// `npm run worker -- serve`, run as a process: what it refuses before touching the network.
import { spawnSync } from 'child_process';
import { join } from 'path';
import { writeFileSync } from 'fs';
import { tempDir } from '../tmp';
import { nodeArgs } from '../../testkit/compiled';

const ROOT = join(__dirname, '..', '..');
const ADDRESS = 'EQBJiRlpisFNVP4G4WKK5qT3d7PFCBcCJg1xLhkgNZSAkSHP';
function worker(env: Record<string, string>, ...args: string[]) {
    const r = spawnSync(process.execPath, [...nodeArgs('worker/src/cli.ts'), ...args], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { PATH: process.env.PATH!, ...env },
    });
    return { status: r.status, stderr: r.stderr.trim() };
}
const serve = [
    'serve',
    '--root',
    ADDRESS,
    '--owner',
    ADDRESS,
    '--verifier',
    'http://127.0.0.1:1',
    '--backend',
    'http://127.0.0.1:1',
    '--model',
    'm',
    '--model-hash',
    'ab'.repeat(32),
];

describe('worker CLI', () => {
    it("refuses an echo backend's --delay that is not a whole number of milliseconds", () => {
        const r = worker({}, 'echo-backend', '--delay', '-5');
        expect(r).toMatchObject({ status: 64, stderr: 'error: --delay must be a whole number of milliseconds, got -5' });
    });

    it('refuses a bad address, naming the flag', () => {
        const r = worker({}, 'serve', '--root', 'nope', '--owner', ADDRESS);
        expect(r).toMatchObject({ status: 64, stderr: 'error: --root nope is not a TON address' });
    });

    it('takes --finalize-abandoned-after as seconds or off, naming the flag otherwise', () => {
        for (const bad of ['0', '1h', '-5', '1.5']) {
            const r = worker({}, ...serve, '--finalize-abandoned-after', bad);
            expect(r).toMatchObject({
                status: 64,
                stderr: `error: --finalize-abandoned-after must be a number of seconds or off, got ${bad}`,
            });
        }
        // accepted: the next refusal is the missing mnemonic
        for (const good of ['off', '7200'])
            expect(worker({}, ...serve, '--finalize-abandoned-after', good).stderr).toMatch(/COCOON_WORKER_MNEMONIC/);
    });

    it('takes --wallet-version as one of the wallets a mnemonic drives, naming the choices otherwise', () => {
        const r = worker({}, ...serve, '--wallet-version', 'v2');
        expect(r.status).not.toBe(0);
        expect(r.stderr).toMatch(/--wallet-version <version>' argument 'v2' is invalid\. Allowed choices are v3r2, v4, v4r2, v5r1/);
        // accepted: the next refusal is the missing mnemonic
        expect(worker({}, ...serve, '--wallet-version', 'v5r1').stderr).toMatch(/COCOON_WORKER_MNEMONIC/);
    });

    it('needs the wallet mnemonic from the environment', () => {
        const r = worker({}, ...serve);
        expect(r.status).toBe(64);
        expect(r.stderr).toMatch(/COCOON_WORKER_MNEMONIC must hold the 24-word mnemonic/);
    });

    it('refuses a backend outside the TD unless --dev, before anything else', () => {
        const args = [...serve];
        args[args.indexOf('--backend') + 1] = 'http://10.1.2.3:8000';
        const r = worker({}, ...args);
        expect(r.status).toBe(64);
        expect(r.stderr).toMatch(/--backend http:\/\/10.1.2.3:8000 is not inside this TD/);
        expect(r.stderr).toMatch(/unix:\/run\/vllm.sock/);
    });

    it('refuses to run without GPU evidence unless --dev', () => {
        const r = worker({}, ...serve, '--gpu-evidence', 'none');
        expect(r.status).toBe(64);
        expect(r.stderr).toMatch(/--gpu-evidence none needs --dev/);
    });

    it('refuses --dev where its evidence could pass for production: on mainnet, on a TDX machine', () => {
        const onMainnet = worker({}, ...serve, '--dev', '--network', 'mainnet');
        expect(onMainnet.status).toBe(64);
        expect(onMainnet.stderr).toMatch(/--dev is refused on mainnet/);
        const tsm = tempDir('worker-tdx'); // a configfs-tsm directory: real TDX quotes
        const onTdx = worker({}, ...serve, '--dev', '--tsm', tsm);
        expect(onTdx.status).toBe(64);
        expect(onTdx.stderr).toMatch(/--dev is refused on a TDX machine/);
    });

    it('refuses another GPU evidence command unless --dev (evidence must come from its own GPUs)', () => {
        const r = worker({}, ...serve, '--gpu-evidence-command', 'ssh other-host nvattest collect-evidence');
        expect(r.status).toBe(64);
        expect(r.stderr).toMatch(/--gpu-evidence-command needs --dev/);
    });

    it("needs the model's hash, 64 hex digits", () => {
        const args = [...serve];
        args[args.indexOf('--model-hash') + 1] = '00'.repeat(32);
        const r = worker({}, ...args);
        expect(r.status).toBe(64);
        expect(r.stderr).toMatch(/--model-hash must be 64 hex digits \(not all zero\)/);
    });

    it("hashes the model's files itself: a typed --model-hash alone is refused outside --dev, a wrong one refused", () => {
        const words = Array(24).fill('abandon').join(' ');
        const tsm = tempDir('worker-tdx'); // a TDX machine: past the evidence check
        const typed = worker({ COCOON_WORKER_MNEMONIC: words }, ...serve, '--tsm', tsm);
        expect(typed.status).toBe(64);
        expect(typed.stderr).toMatch(/--model-dir is needed: the worker hashes the model's files itself/);
        const model = tempDir('worker-model');
        writeFileSync(join(model, 'weights.bin'), 'cheap weights');
        const wrong = worker({ COCOON_WORKER_MNEMONIC: words }, ...serve, '--tsm', tsm, '--model-dir', model);
        expect(wrong.status).toBe(64);
        expect(wrong.stderr).toMatch(new RegExp(`the files in .* hash to [0-9a-f]{64}, not the --model-hash ${'ab'.repeat(32)} given`));
    });

    it('keeps keys across restarts only with a sealing key source, and the development one only with --dev', () => {
        const words = Array(24).fill('abandon').join(' ');
        const model = tempDir('worker-model');
        writeFileSync(join(model, 'weights.bin'), 'weights');
        const tsm = tempDir('worker-tdx');
        const secret = join(tempDir('worker-seal'), 'secret');
        // (a production worker: on a TDX machine, hashing its model's files)
        const production = (...args: string[]) =>
            worker({ COCOON_WORKER_MNEMONIC: words }, ...serve.slice(0, -2), '--tsm', tsm, '--model-dir', model, ...args);
        const prod = production('--seal-key-file', secret);
        expect(prod.status).toBe(64);
        expect(prod.stderr).toMatch(/--seal-key-file needs --dev: whoever reads that file can read the enclave keys/);
        const unpinned = production('--sealed-keys', join(model, 'keys'), '--seal-with-verifiers');
        expect(unpinned.status).toBe(64);
        expect(unpinned.stderr).toMatch(
            /--seal-with-verifiers needs the verifiers pinned in the image at \/etc\/cocoon\/sealing-verifiers.json/,
        );
        const missing = join(tempDir('worker-cli'), 'tsm');
        const noSource = worker(
            { COCOON_WORKER_MNEMONIC: words },
            ...serve,
            '--dev',
            '--tsm',
            missing,
            '--sealed-keys',
            join(model, 'keys'),
        );
        expect(noSource.status).toBe(64);
        expect(noSource.stderr).toMatch(/--sealed-keys needs a sealing key source: --seal-with-verifiers/);
        const dev = ['--dev', '--tsm', missing];
        const noFile = worker({ COCOON_WORKER_MNEMONIC: words }, ...serve, ...dev, '--seal-with-verifiers');
        expect([noFile.status, noFile.stderr]).toEqual([
            64,
            'error: a sealing key source needs --sealed-keys FILE (where the sealed keys are kept)',
        ]);
        const both = worker(
            { COCOON_WORKER_MNEMONIC: words },
            ...serve,
            ...dev,
            '--sealed-keys',
            join(model, 'keys'),
            '--seal-with-verifiers',
            '--seal-key-file',
            secret,
        );
        expect([both.status, both.stderr]).toEqual([64, 'error: give one sealing key source: --seal-with-verifiers or --seal-key-file']);
    });

    it('takes several chain endpoints, each with its own API key variable, and names a missing one', () => {
        const words = Array(24).fill('abandon').join(' ');
        const missing = join(tempDir('worker-cli'), 'tsm');
        const r = worker(
            { COCOON_WORKER_MNEMONIC: words, TONCENTER_KEY: 'secret-key' },
            ...serve,
            '--dev',
            '--tsm',
            missing,
            '--endpoint',
            'https://toncenter.example/api/v2/jsonRPC#TONCENTER_KEY',
            'https://own-node.example/api/v2/jsonRPC#OWN_NODE_KEY',
        );
        expect(r.status).toBe(64);
        expect(r.stderr).toMatch(/the environment variable OWN_NODE_KEY \(its API key\) is not set/);
        expect(r.stderr).not.toContain('secret-key');
    });

    it('refuses to run without TDX unless --dev, naming the configfs-tsm path', () => {
        const words = Array(24).fill('abandon').join(' ');
        const missing = join(tempDir('worker-cli'), 'tsm');
        const r = worker({ COCOON_WORKER_MNEMONIC: words }, ...serve, '--tsm', missing);
        expect(r.status).toBe(64);
        expect(r.stderr).toContain(`no TDX quote interface at ${missing}`);
        expect(r.stderr).not.toContain('abandon'); // the mnemonic is never printed
    });
});
