// Enclave keys sealed across restarts (worker/src/sealed-keys.ts).
import { join } from 'path';
import { statSync, writeFileSync, readFileSync } from 'fs';
import { randomBytes } from 'crypto';
import { Address } from '@ton/core';
import { createServer } from 'http';
import type { KeyPair } from '@ton/crypto';
import { ed25519Sign } from '../../wrappers';
import { generateX25519KeyPair, sealAuth } from '../../protocol/hpke';
import { SEALING_SHARE_DOMAIN, sealingReportData, sealingShareSigned } from '../../protocol/evidence';
import { encodeSealingShare, sealingRequestSchema } from '../../protocol/verifier-api';
import {
    RootVerifierSet,
    SealedKeys,
    fileSealingSource,
    readPinnedVerifierSet,
    sealingContext,
    verifierSealingSource,
} from '../../worker/src/sealed-keys';
import { Attestor } from '../../tee-verifier/src/attest';
import { Sealer } from '../../tee-verifier/src/sealing';
import { buildVerifierServer } from '../../tee-verifier/src/server';
import { DEFAULT_TCB_POLICY } from '../../tee-verifier/src/quote';
import { VerifierStore } from '../../tee-verifier/src/store';
import { generateEnclaveKeys } from '../../worker/src/keys';
import { EXAMPLE_BINDING, seededKey } from '../../testkit';
import { tempDir } from '../tmp';
import { AttestationRequest } from '../../protocol/evidence';

const provider = new Address(0, Buffer.alloc(32, 5));
const model = Buffer.alloc(32, 6);

describe('sealed enclave keys', () => {
    const dir = tempDir('sealed');
    const secret = join(dir, 'secret');
    writeFileSync(secret, randomBytes(32));
    const sealed = (o: { secretFile?: string; globalId?: number; provider?: Address; model?: Buffer; file?: string } = {}) =>
        new SealedKeys(
            o.file ?? join(dir, 'keys'),
            fileSealingSource(o.secretFile ?? secret),
            sealingContext(o.provider ?? provider, o.globalId ?? -3, o.model ?? model),
        );

    it('unseals what it sealed: the same keys and evidence, in a file only its owner reads', async () => {
        expect(await sealed({ file: join(dir, 'none') }).load()).toBeNull();
        const keys = await generateEnclaveKeys();
        const evidence: AttestationRequest = {
            ...EXAMPLE_BINDING,
            provider,
            signingKey: keys.signing.publicKey,
            evidence: { kind: 'simulated', reportData: Buffer.alloc(64, 1), gpu: [] },
        };
        await sealed().save({ keys, evidence });
        const back = (await sealed().load())!;
        expect(back.keys.signing.secretKey).toEqual(keys.signing.secretKey);
        expect(back.keys.encryption).toEqual(keys.encryption);
        expect(back.evidence?.signingKey).toEqual(keys.signing.publicKey);
        expect(statSync(join(dir, 'keys')).mode & 0o777).toBe(0o600);
        expect(readFileSync(join(dir, 'keys')).includes(keys.signing.secretKey.subarray(0, 32))).toBe(false);
    });

    it.each([
        ['another secret', () => ({ secretFile: (writeFileSync(join(dir, 'other'), randomBytes(32)), join(dir, 'other')) })],
        ['another network', () => ({ globalId: -239 })],
        ['another provider', () => ({ provider: new Address(0, Buffer.alloc(32, 9)) })],
        ['another model', () => ({ model: Buffer.alloc(32, 1) })],
    ])('does not open for %s', async (_name, other) => {
        await sealed().save({ keys: await generateEnclaveKeys() });
        await expect(sealed(other()).load()).rejects.toThrow(/do not open/);
    });

    it('does not open an altered file, and refuses a short secret', async () => {
        await sealed().save({ keys: await generateEnclaveKeys() });
        const bytes = readFileSync(join(dir, 'keys'));
        bytes[20] ^= 1;
        writeFileSync(join(dir, 'keys'), bytes);
        await expect(sealed().load()).rejects.toThrow(/do not open/);
        writeFileSync(join(dir, 'short'), 'short');
        await expect(sealed({ secretFile: join(dir, 'short') }).save({ keys: await generateEnclaveKeys() })).rejects.toThrow(
            /at least 32 bytes/,
        );
    });
});

// Production: the sealing key from every verifier's sealing share (verifierSealingSource against
// verifiers on loopback, in development mode so that the simulated TD's evidence counts).
describe('enclave keys sealed with the verifiers', () => {
    const dir = tempDir('sealed-verifiers');
    const keys = [seededKey('sealing-a'), seededKey('sealing-b'), seededKey('sealing-c')];
    const urls: string[] = [];
    const closers: (() => Promise<unknown>)[] = [];
    // Root's verifier set as the source reads it: these three keys, threshold 1 unless a test says
    const rootSet = (members = keys, threshold = 1): RootVerifierSet => ({
        has: (k) => members.some((m) => m.publicKey.equals(k)),
        threshold,
    });

    const startVerifier = async (key: KeyPair, withSecret = true) => {
        const store = new VerifierStore(join(dir, `${key.publicKey.toString('hex').slice(0, 8)}-${urls.length}.sqlite`));
        const attestor = new Attestor({
            store,
            key,
            root: new Address(0, Buffer.alloc(32, 1)),
            globalId: -3,
            allowlist: { isAllowed: async () => true },
            collateral: { collateralFor: async () => Promise.reject(new Error('no collateral here')) },
            policy: DEFAULT_TCB_POLICY,
            validitySeconds: 3600,
            nonceTtlSeconds: 600,
            devMode: true,
            now: () => Math.floor(Date.now() / 1000),
            peers: [],
            threshold: 1,
        });
        const sealer = withSecret ? new Sealer({ ...attestor.o, secret: Buffer.alloc(32, key.publicKey[0]) }) : undefined;
        const app = await buildVerifierServer({ attestor, sealer, store, devMode: true, rateLimitPerMinute: 10_000 });
        const url = await app.listen({ host: '127.0.0.1', port: 0 });
        closers.push(async () => (await app.close(), store.close()));
        return { url, app };
    };
    beforeAll(async () => {
        for (const k of keys) urls.push((await startVerifier(k)).url);
    });
    afterAll(async () => Promise.all(closers.map((c) => c())));

    const source = (verifiers: string[], set = rootSet()) =>
        verifierSealingSource({
            verifiers,
            provider,
            globalId: -3,
            modelHash: model,
            evidence: async (b) => ({ kind: 'simulated', reportData: sealingReportData(b) }),
            verifierSet: async () => set,
            timeoutMs: 2000,
        });
    const sealedWith = (verifiers: string[], file = 'keys', set?: RootVerifierSet) =>
        new SealedKeys(join(dir, file), source(verifiers, set), sealingContext(provider, -3, model));

    it('unseals after a restart with the shares of the same verifiers, in any order; not with fewer of them', async () => {
        const keysSealed = await generateEnclaveKeys();
        await sealedWith([urls[0], urls[1]]).save({ keys: keysSealed });
        // (a new SealedKeys: new reply keys and new quotes, as after a restart)
        const back = (await sealedWith([urls[1], urls[0]]).load())!;
        expect(back.keys.signing.secretKey).toEqual(keysSealed.signing.secretKey);
        expect(back.keys.encryption).toEqual(keysSealed.encryption);
        // one verifier's share alone, or another verifier's instead, is another key
        await expect(sealedWith([urls[0]]).load()).rejects.toThrow(/do not open with the sealing shares of the verifiers at/);
        await expect(sealedWith([urls[0], urls[2]]).load()).rejects.toThrow(/do not open/);
    });

    it('names a verifier that is down or offers no sealing, and opens nothing without it', async () => {
        await sealedWith([urls[0], urls[1]], 'down').save({ keys: await generateEnclaveKeys() });
        const { url, app } = await startVerifier(keys[1]);
        await app.close();
        await expect(sealedWith([urls[0], url], 'down').load()).rejects.toThrow(new RegExp(`verifier ${url}/? refused: unreachable`));
        expect(() => source([])).toThrow('needs at least one --verifier');
        const plain = await startVerifier(keys[1], false);
        await expect(sealedWith([urls[0], plain.url], 'down').load()).rejects.toThrow(/sealing-not-offered/);
    });

    it('reads the verifier set pinned in the image, and names what is wrong with a bad one', () => {
        const file = join(dir, 'pinned.json');
        writeFileSync(file, JSON.stringify({ threshold: 2, keys: keys.map((k) => k.publicKey.toString('hex').toUpperCase()) }));
        const pinned = readPinnedVerifierSet(file);
        expect([pinned.threshold, pinned.has(keys[2].publicKey), pinned.has(Buffer.alloc(32, 1))]).toEqual([2, true, false]);
        for (const [bad, message] of [
            [{ threshold: 1, keys: [] }, '"keys" must list'],
            [{ threshold: 1, keys: ['abc'] }, '"keys" must list'],
            [
                { threshold: 3, keys: [keys[0].publicKey.toString('hex')] },
                '"threshold" must be a whole number from 1 to the number of keys',
            ],
            [{ keys: [keys[0].publicKey.toString('hex')] }, '"threshold"'],
        ] as const) {
            writeFileSync(file, JSON.stringify(bad));
            expect(() => readPinnedVerifierSet(file)).toThrow(message);
        }
        expect(() => readPinnedVerifierSet(join(dir, 'absent.json'))).toThrow('cannot be read');
    });

    it("needs as many distinct verifiers as Root's threshold: one verifier reached through two URLs counts once", async () => {
        const fresh = async () => ({ keys: await generateEnclaveKeys() });
        await expect(sealedWith([urls[0]], 'threshold', rootSet(keys, 2)).save(await fresh())).rejects.toThrow(
            "sealing needs the shares of at least 2 verifiers (Root's threshold); 1 --verifier given",
        );
        // the host routes the worker's connections: a second URL that reaches the first verifier again
        const again = `${urls[0].replace('127.0.0.1', 'localhost')}`;
        await expect(sealedWith([urls[0], again], 'threshold', rootSet(keys, 2)).save(await fresh())).rejects.toThrow(
            `${again} answered with the share of ${keys[0].publicKey.toString('hex')}, which another --verifier gave already`,
        );
        await sealedWith([urls[0], urls[2]], 'threshold', rootSet(keys, 2)).save(await fresh()); // two distinct: enough
    });

    it("refuses a share signed by a key outside Root's verifier set (a verifier that was removed, or an impostor)", async () => {
        const notInSet = rootSet([keys[0], keys[2]]);
        await expect(sealedWith([urls[0], urls[1]], 'impostor', notInSet).save({ keys: await generateEnclaveKeys() })).rejects.toThrow(
            `is signed by ${keys[1].publicKey.toString('hex')}, which is not in the verifier set`,
        );
    });

    it('refuses a validly signed share sealed to another key than the request named (a verifier that misbehaves)', async () => {
        const key = keys[0];
        const fake = createServer((req, res) => {
            let body = '';
            req.on('data', (d) => (body += d));
            req.on('end', () => {
                const r = sealingRequestSchema.parse(JSON.parse(body));
                const reportData = sealingReportData(r);
                const sender = generateX25519KeyPair();
                const { enc, ciphertext } = sealAuth(
                    generateX25519KeyPair().publicKey,
                    sender,
                    SEALING_SHARE_DOMAIN,
                    reportData,
                    Buffer.alloc(32, 1),
                );
                const sealed = { senderKey: sender.publicKey, enc, ciphertext };
                const signature = ed25519Sign(sealingShareSigned(reportData, sealed), key.secretKey);
                res.setHeader('content-type', 'application/json');
                res.end(JSON.stringify(encodeSealingShare({ publicKey: key.publicKey, ...sealed, signature })));
            });
        });
        await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
        const url = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
        try {
            await expect(sealedWith([url], 'misbehaving').save({ keys: await generateEnclaveKeys() })).rejects.toThrow(
                `the sealing share from ${url} does not open with this request's reply key`,
            );
        } finally {
            fake.close();
        }
    });

    it('refuses a share replayed from an earlier request (a man in the middle answering with what it saw)', async () => {
        // a proxy that forwards the first request and answers every later one with the first answer
        let first: string | undefined;
        const proxy = createServer((req, res) => {
            let body = '';
            req.on('data', (d) => (body += d));
            req.on('end', async () => {
                first ??= await (
                    await fetch(`${urls[0]}/v1/sealing-share`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
                ).text();
                res.setHeader('content-type', 'application/json');
                res.end(first);
            });
        });
        await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
        const via = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
        try {
            await sealedWith([via], 'replayed').save({ keys: await generateEnclaveKeys() });
            await expect(sealedWith([via], 'replayed').load()).rejects.toThrow(
                `the sealing share from ${via} does not carry a valid signature`,
            );
        } finally {
            proxy.close();
        }
    });
});
