// End-to-end encryption between client and enclave (protocol/encryption.ts).
import { Address } from '@ton/core';
import { DecryptionError, generateEncryptionKeyPair, openRequest, sealRequest } from '../../sdk';
import { randomNonce } from '../../protocol/aead';

const session = new Address(0, Buffer.alloc(32, 1));
const otherSession = new Address(0, Buffer.alloc(32, 2));
const text = (s: string) => new TextEncoder().encode(s);
const ID = 'request-id-0000001';

describe('request and response encryption', () => {
    it('the enclave reads the request and only the sender reads the response', async () => {
        const enclave = await generateEncryptionKeyPair();
        const client = await generateEncryptionKeyPair();
        expect(enclave.publicKey.length).toBe(32);
        const { envelope, openResponse } = await sealRequest(
            enclave.publicKey,
            session,
            client,
            text('{"messages":[{"role":"user","content":"hi"}]}'),
            ID,
        );
        expect(Buffer.from(envelope.ciphertext, 'base64').toString()).not.toContain('hi');
        expect(envelope.clientKey).toBe(client.publicKey.toString('base64'));
        const opened = await openRequest(enclave, session, envelope);
        expect(opened.plaintext.toString()).toBe('{"messages":[{"role":"user","content":"hi"}]}');
        const response = opened.sealResponse(text('hello back'));
        expect(openResponse(response).toString()).toBe('hello back');
        // another request's context cannot read this response
        const other = await sealRequest(enclave.publicKey, session, client, text('x'), ID);
        expect(() => other.openResponse(response)).toThrow(DecryptionError);
    });

    it('refuses a tampered request, one sealed for another session, request id or enclave', async () => {
        const enclave = await generateEncryptionKeyPair();
        const client = await generateEncryptionKeyPair();
        const { envelope } = await sealRequest(enclave.publicKey, session, client, text('secret'), ID);
        const bytes = Buffer.from(envelope.ciphertext, 'base64');
        bytes[0] ^= 1;
        await expect(openRequest(enclave, session, { ...envelope, ciphertext: bytes.toString('base64') })).rejects.toThrow(DecryptionError);
        await expect(openRequest(enclave, otherSession, envelope)).rejects.toThrow(DecryptionError);
        const stranger = await generateEncryptionKeyPair();
        await expect(openRequest(stranger, session, envelope)).rejects.toThrow(DecryptionError);
        // the request id is the additional data: another id does not open
        await expect(openRequest(enclave, session, { ...envelope, requestId: 'another-request-id' })).rejects.toThrow(DecryptionError);
        await expect(openRequest(enclave, session, envelope)).resolves.toBeDefined();
    });

    it('refuses a request that names another client key than the one that sealed it', async () => {
        // Auth mode: whoever does not hold the committed session key cannot speak for the session.
        const enclave = await generateEncryptionKeyPair();
        const client = await generateEncryptionKeyPair();
        const impostor = await generateEncryptionKeyPair();
        const { envelope } = await sealRequest(enclave.publicKey, session, impostor, text('spend their budget'), ID);
        await expect(openRequest(enclave, session, { ...envelope, clientKey: client.publicKey.toString('base64') })).rejects.toThrow(
            DecryptionError,
        );
        await expect(openRequest(enclave, session, envelope)).resolves.toBeDefined(); // under its own key it opens
    });

    it('refuses a tampered response', async () => {
        const enclave = await generateEncryptionKeyPair();
        const client = await generateEncryptionKeyPair();
        const { envelope, openResponse } = await sealRequest(enclave.publicKey, session, client, text('q'), ID);
        const response = (await openRequest(enclave, session, envelope)).sealResponse(text('answer'));
        const bytes = Buffer.from(response.ciphertext, 'base64');
        bytes[2] ^= 1;
        expect(() => openResponse({ ...response, ciphertext: bytes.toString('base64') })).toThrow(DecryptionError);
    });
});

describe('nonces from the random pool (protocol/aead.ts randomNonce)', () => {
    it('hands out every byte once, across refills, as copies the refill does not change', () => {
        const seen = new Set<string>();
        const kept: [Buffer, string][] = [];
        let total = 0;
        for (let i = 0; total < 3 * 4096; i++) {
            const length = [12, 16, 7, 1][i % 4];
            const bytes = randomNonce(length);
            expect(bytes.length).toBe(length);
            total += length;
            if (length >= 12) {
                seen.add(bytes.toString('hex'));
                kept.push([bytes, bytes.toString('hex')]);
            }
        }
        expect(seen.size).toBe(kept.length); // no 12- or 16-byte value twice
        for (const [bytes, hex] of kept) expect(bytes.toString('hex')).toBe(hex);
        for (const bad of [4097, 0, -12, NaN, 1.5]) expect(() => randomNonce(bad)).toThrow(RangeError);
        expect(randomNonce(12).length).toBe(12); // (a refused length leaves the pool as it was)
    });
});
