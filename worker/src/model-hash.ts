// A model's identity: one hash over its files (weights, tokenizer, configuration), so that a
// listing, an attestation and Root's allowlist can name exactly which model a worker serves, not
// only its name. Hugging Face revisions and local copies hash the same when their files do.
//
// modelHash = SHA-256 of the manifest: one line per regular file under the directory, sorted by
// relative path (POSIX separators, byte order), each "path<TAB>size<TAB>sha256(file) hex<LF>".
// Directories named .git or .cache are skipped (tool state, not the model).
import { createHash } from 'crypto';
import { createReadStream, readdirSync, statSync } from 'fs';
import { join, relative, sep } from 'path';

const SKIPPED_DIRECTORIES = new Set(['.git', '.cache']);

export interface ModelFile {
    path: string; // relative, POSIX separators
    size: number;
}

export function modelFiles(dir: string): ModelFile[] {
    const out: ModelFile[] = [];
    const walk = (d: string) => {
        for (const entry of readdirSync(d, { withFileTypes: true })) {
            const full = join(d, entry.name);
            if (entry.isDirectory()) {
                if (!SKIPPED_DIRECTORIES.has(entry.name)) walk(full);
            } else {
                const s = statSync(full); // follows symlinks, as Hugging Face caches use them
                if (s.isFile()) out.push({ path: relative(dir, full).split(sep).join('/'), size: s.size });
            }
        }
    };
    walk(dir);
    if (out.length === 0) throw new Error(`${dir} holds no files: name the directory with the model's weights`);
    return out.sort((a, b) => (Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)) < 0 ? -1 : 1));
}

async function fileHash(path: string, onBytes: (n: number) => void): Promise<string> {
    const h = createHash('sha256');
    for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) {
        h.update(chunk as Buffer);
        onBytes((chunk as Buffer).length);
    }
    return h.digest('hex');
}

// The model hash of a directory, and its manifest; `progress` hears bytes done of the total.
export async function modelHash(
    dir: string,
    progress: (done: number, total: number) => void = () => undefined,
): Promise<{ hash: Buffer; manifest: string }> {
    const files = modelFiles(dir);
    const total = files.reduce((n, f) => n + f.size, 0);
    let done = 0;
    let manifest = '';
    for (const f of files) {
        const digest = await fileHash(join(dir, f.path), (n) => progress((done += n), total));
        manifest += `${f.path}\t${f.size}\t${digest}\n`;
    }
    progress(total, total);
    return { hash: createHash('sha256').update(manifest).digest(), manifest };
}
