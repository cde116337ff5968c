// What integrators install (`npm install cocoon`): the tarball `npm pack` makes, checked for what it
// holds, and used from scratch projects exactly as an integrator's backend would use it: from
// CommonJS and from an ES module, with plain Node (no ts-node), deploying the protocol on
// @ton/sandbox through the packaged wrappers and running a session to its end.
//
// The scratch projects live under the repository's node_modules/.cache/: the package is unpacked
// into their node_modules/cocoon, and its dependencies resolve, as Node walks up the directories,
// to the repository's installed ones (installing them from the registry would need the network and
// a native build of better-sqlite3 in every run). That the package names every dependency it
// needs is checked on its own, by reading every require in it.
import { spawnSync } from 'child_process';
import { builtinModules } from 'module';
import { cpSync, mkdirSync, readFileSync, rmSync } from 'fs';
import { join } from 'path';
import { fromNano, toNano } from '@ton/core';
import { compiledIsFresh } from '../../testkit/compiled';
import { contractCodeHashes } from '../../wrappers';

const ROOT = join(__dirname, '..', '..');
const WORK = join(ROOT, 'node_modules', '.cache', `cocoon-package-test-${process.pid}`);
const PROJECT = join(WORK, 'project');
const INSTALLED = join(PROJECT, 'node_modules', 'cocoon');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

function run(command: string, args: string[], cwd: string) {
    const r = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } });
    if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status}):\n${r.stderr}\n${r.stdout}`);
    return r.stdout;
}

interface Packed {
    size: number; // the tarball
    unpackedSize: number;
    files: { path: string }[];
    filename: string;
}
let packed: Packed;
let files: string[];

beforeAll(() => {
    if (!compiledIsFresh()) run('npm', ['run', 'compile', '--silent'], ROOT); // (npm test compiled it already)
    rmSync(WORK, { recursive: true, force: true });
    mkdirSync(INSTALLED, { recursive: true });
    packed = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', WORK], ROOT))[0];
    files = packed.files.map((f) => f.path);
    run('tar', ['-xzf', join(WORK, packed.filename), '-C', INSTALLED, '--strip-components', '1'], ROOT);
    cpSync(join(__dirname, 'integrator'), PROJECT, { recursive: true });
}, 120_000);

afterAll(() => rmSync(WORK, { recursive: true, force: true }));

describe('the npm package', () => {
    it('holds the compiled library with its types, the contract code, the commands and the docs; no tests, sources, fixtures or secrets', () => {
        for (const f of [
            'package.json',
            'README.md',
            'CHANGELOG.md',
            'LICENSE',
            'dist/wrappers/index.js',
            'dist/wrappers/index.d.ts',
            'dist/sdk/index.js',
            'dist/sdk/index.d.ts',
            'dist/build/Root/tact_Root.js',
            'dist/build/Session/tact_Session.d.ts',
            'dist/gateway/src/app.js',
            'tee-verifier/data/nvidia_device_root.pem',
            'docs/guides/client.md',
        ]) {
            expect(files).toContain(f);
        }
        const unwanted = files.filter(
            (f) =>
                /(^|\/)(tests?|testkit|fixtures|bench|demo|scripts|contracts|tools|\.scratch|\.ci)\//.test(f) ||
                (/\.ts$/.test(f) && !/\.d\.ts$/.test(f)) ||
                /\.(env|sqlite|key|tgz)$|mnemonic|\.compile\./i.test(f),
        );
        expect(unwanted).toEqual([]);
        // what the README states: "about 360 kB to download, 2.5 MB installed"
        expect(packed.size).toBeLessThan(400_000);
        expect(packed.unpackedSize).toBeLessThan(3_000_000);
        expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toMatch(/about\s+\d+ kB to download,\s+[\d.]+ MB installed/);
    });

    it('points every entry of its exports map and every command at a file it holds; commands start as Node scripts', () => {
        const targets = Object.values(pkg.exports as Record<string, string | Record<string, string>>).flatMap((t) =>
            typeof t === 'string' ? [t] : Object.values(t),
        );
        for (const t of targets) expect(files).toContain(t.replace(/^\.\//, ''));
        for (const bin of Object.values(pkg.bin as Record<string, string>)) {
            expect(files).toContain(bin);
            expect(readFileSync(join(INSTALLED, bin), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
        }
        expect(Object.keys(pkg.bin).sort()).toEqual(['cocoon-gateway', 'cocoon-verifier', 'cocoon-worker']);
    });

    it('requires nothing but its dependencies, Node built-ins and its own files', () => {
        const deps = new Set(Object.keys(pkg.dependencies));
        const builtins = new Set(builtinModules);
        const missing = new Set<string>();
        const own = new Set(files);
        for (const f of files.filter((x) => x.endsWith('.js'))) {
            const code = readFileSync(join(INSTALLED, f), 'utf8');
            for (const [, spec] of code.matchAll(/require\("([^"]+)"\)/g)) {
                if (spec.startsWith('.')) {
                    const target = join(f, '..', spec).replace(/\\/g, '/');
                    if (target === 'testkit/local-network') continue; // (the gateway's --local: the repository only, see its CLI)
                    if (!own.has(target + '.js') && !own.has(target + '/index.js') && !own.has(target)) missing.add(`${f} -> ${spec}`);
                    continue;
                }
                const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
                if (!deps.has(name) && !builtins.has(name.replace(/^node:/, ''))) missing.add(`${f} -> ${spec}`);
            }
        }
        expect([...missing]).toEqual([]);
        // tools stay tools: no compiler, test framework or Blueprint at run time
        for (const tool of ['@tact-lang/compiler', '@ton/blueprint', '@ton/sandbox', 'jest', 'ts-node', 'typescript']) {
            expect(pkg.dependencies[tool]).toBeUndefined();
        }
    });

    const flowFrom = (entry: string) => JSON.parse(run(process.execPath, [entry], PROJECT).trim().split('\n').pop()!);

    it.each([
        ['CommonJS (require)', 'main.cjs'],
        ['an ES module (import)', 'main.mjs'],
    ])(
        'from %s: deploys Root, registers and attests a provider, opens, claims and finalizes a session, TON conserved',
        async (_, entry) => {
            const r = flowFrom(entry);
            expect(r).toMatchObject({ opened: true, finalized: true, imbalance: '0', untracked: 0, clientClass: 'function' });
            expect(r.claimed).toBe(r.due); // the receipt's amount, paid from the escrow
            expect(BigInt(r.due)).toBe(toNano('0.15'));
            // the client paid the receipt plus the network's fees, and got the rest of its budget back
            const fees = BigInt(r.clientPaid) - BigInt(r.due);
            expect(fees > 0n && fees < toNano('0.1')).toBe(true);
            expect(r.codeHashes).toEqual(await contractCodeHashes());
            expect(fromNano(BigInt(r.clientPaid))).toMatch(/^0\.2/);
        },
    );

    it.each([['node16'], ['node10']])(
        "type-checks an integrator's TypeScript against its declarations (moduleResolution %s)",
        (resolution) => {
            const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
            const r = spawnSync(process.execPath, [tsc, '-p', `tsconfig.${resolution}.json`], { cwd: PROJECT, encoding: 'utf8' });
            expect(r.stdout).toBe('');
            expect(r.status).toBe(0);
        },
        60_000,
    );

    it('runs its commands with plain Node; the gateway says --local needs the repository', () => {
        const help = spawnSync(process.execPath, [join(INSTALLED, pkg.bin['cocoon-worker']), '--help'], { encoding: 'utf8' });
        expect(help.status).toBe(0);
        expect(help.stdout).toContain('serve');
        const local = spawnSync(process.execPath, [join(INSTALLED, pkg.bin['cocoon-gateway']), '--local'], { encoding: 'utf8' });
        expect(local.status).toBe(64);
        expect(local.stderr).toContain('--local runs from a clone of the Cocoon repository');
    });

    it('documents every exported symbol of its entry points (the API reference is generated from the doc comments)', () => {
        const r = spawnSync(process.execPath, [join(ROOT, 'tools', 'api-docs.mjs'), '--check'], { cwd: ROOT, encoding: 'utf8' });
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
    }, 60_000);

    it("lists this version's contract code hashes in the CHANGELOG", async () => {
        const changelog = readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8');
        const section = changelog.split(/^## /m).find((s) => s.startsWith(`${pkg.version}\n`));
        expect(section).toBeDefined();
        const hashes = await contractCodeHashes();
        for (const [name, hash] of [
            ['Root', hashes.root],
            ['Provider', hashes.provider],
            ['Session', hashes.session],
        ]) {
            expect(section).toMatch(new RegExp(`\\| ${name} +\\| \`${hash}\` \\|`));
        }
    });
});
