// A model's identity (worker/src/model-hash.ts): one hash over its files, computed the same way
// by anyone who has the same files; `npm run worker -- model-hash DIR` prints it.
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'fs';
import { join } from 'path';
import { modelHash } from '../../worker/src/model-hash';
import { tempDir } from '../tmp';
import { nodeArgs } from '../../testkit/compiled';

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

function modelDir() {
    const dir = tempDir('model');
    mkdirSync(join(dir, 'tokenizer'));
    mkdirSync(join(dir, '.git'));
    writeFileSync(join(dir, 'model.safetensors'), Buffer.alloc(100_000, 7));
    writeFileSync(join(dir, 'config.json'), '{"layers":2}');
    writeFileSync(join(dir, 'tokenizer', 'vocab.txt'), 'a\nb\n');
    writeFileSync(join(dir, '.git', 'HEAD'), 'ref: main'); // tool state: skipped
    return dir;
}

describe('model hash', () => {
    it('is SHA-256 of the sorted manifest of path, size and file hash', async () => {
        const dir = modelDir();
        const manifest =
            `config.json\t12\t${sha('{"layers":2}')}\n` +
            `model.safetensors\t100000\t${sha(Buffer.alloc(100_000, 7))}\n` +
            `tokenizer/vocab.txt\t4\t${sha('a\nb\n')}\n`;
        const progress: number[] = [];
        const r = await modelHash(dir, (done) => progress.push(done));
        expect(r.manifest).toBe(manifest);
        expect(r.hash.toString('hex')).toBe(sha(manifest));
        expect(progress[progress.length - 1]).toBe(100_016);
    });

    it('changes with any byte, name or file, and follows symlinks (Hugging Face caches)', async () => {
        const dir = modelDir();
        const base = (await modelHash(dir)).hash;
        writeFileSync(join(dir, 'config.json'), '{"layers":3}');
        expect((await modelHash(dir)).hash).not.toEqual(base);
        writeFileSync(join(dir, 'config.json'), '{"layers":2}');
        expect((await modelHash(dir)).hash).toEqual(base);
        const linked = tempDir('model-linked');
        for (const f of ['model.safetensors', 'config.json']) symlinkSync(join(dir, f), join(linked, f));
        mkdirSync(join(linked, 'tokenizer'));
        writeFileSync(join(linked, 'tokenizer', 'vocab.txt'), 'a\nb\n');
        expect((await modelHash(linked)).hash).toEqual(base);
        writeFileSync(join(linked, 'extra.bin'), 'x');
        expect((await modelHash(linked)).hash).not.toEqual(base);
    });

    it('refuses an empty directory', async () => {
        await expect(modelHash(tempDir('model-empty'))).rejects.toThrow(/holds no files/);
    });

    it('is printed by `npm run worker -- model-hash DIR`, with progress on stderr and the manifest on request', () => {
        const dir = modelDir();
        const manifest = join(tempDir('model-out'), 'manifest.txt');
        const run = (...args: string[]) =>
            spawnSync(process.execPath, [...nodeArgs('worker/src/cli.ts'), 'model-hash', ...args], {
                encoding: 'utf8',
                env: { ...process.env, COCOON_QUIET: '' },
            });
        const r = run(dir, '--manifest', manifest);
        expect(r.status).toBe(0);
        expect(r.stdout.trim()).toBe(sha(readFileSync(manifest)));
        // (stderr is a pipe here: a start and an end line, no control characters)
        expect(r.stderr.replace(/\(\d+ s\)/, '(N s)')).toBe(`hashing ${dir}…\nhashing ${dir}: done (N s)\n`);
        const quiet = run(dir, '--quiet');
        expect([quiet.status, quiet.stderr, quiet.stdout.trim()]).toEqual([0, '', sha(readFileSync(manifest))]);
        const missing = run(join(dir, 'nope'));
        expect(missing.status).toBe(64);
        expect(missing.stderr).toContain('is not a directory');
    });
});
