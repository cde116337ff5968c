// Enclave keys sealed across restarts (worker/src/sealed-keys.ts).
import { join } from 'path';
import { statSync, writeFileSync, readFileSync } from 'fs';
import { randomBytes } from 'crypto';
import { Address } from '@ton/core';
import { SealedKeys, fileSealingSource, sealingContext } from '../../worker/src/sealed-keys';
import { generateEnclaveKeys } from '../../worker/src/keys';
import { EXAMPLE_BINDING } from '../../testkit';
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
