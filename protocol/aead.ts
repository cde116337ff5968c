// AES-GCM, the one authenticated cipher Cocoon's off-chain code uses (HPKE's AEAD, sealed answers,
// stored answers, sealed keys), through node:crypto. The key's length picks AES-128 or AES-256; the
// 16-byte tag follows the ciphertext. `open` throws AeadError when the ciphertext, nonce, key or
// additional data is not the one sealed.
import { createCipheriv, createDecipheriv, randomFillSync } from 'crypto';

export class AeadError extends Error {
    constructor() {
        super('the ciphertext does not open');
        this.name = 'AeadError';
    }
}

const algorithm = (key: Buffer) => (key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm');

export function aeadSeal(key: Buffer, nonce: Buffer, plaintext: Uint8Array, aad?: Buffer): Buffer {
    const cipher = createCipheriv(algorithm(key), key, nonce);
    if (aad) cipher.setAAD(aad);
    return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

export function aeadOpen(key: Buffer, nonce: Buffer, sealed: Buffer, aad?: Buffer): Buffer {
    try {
        const decipher = createDecipheriv(algorithm(key), key, nonce);
        if (aad) decipher.setAAD(aad);
        decipher.setAuthTag(sealed.subarray(sealed.length - 16));
        return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
    } catch {
        throw new AeadError();
    }
}

// Random bytes for nonces, salts and request ids (not keys), cut from a pool that the CSPRNG refills
// 4 KiB at a time, each byte handed out once: a request needs a few, and randomBytes costs a call
// into OpenSSL each time (node's randomUUID pools for the same reason).
const randomPool = Buffer.alloc(4096);
let randomPoolUsed = randomPool.length;

export function randomNonce(length: number): Buffer {
    if (!Number.isSafeInteger(length) || length < 1 || length > randomPool.length)
        throw new RangeError(`a nonce is 1 to ${randomPool.length} bytes, not ${length}`);
    if (randomPoolUsed + length > randomPool.length) {
        randomFillSync(randomPool);
        randomPoolUsed = 0;
    }
    const bytes = Buffer.from(randomPool.subarray(randomPoolUsed, randomPoolUsed + length)); // a copy: the pool is refilled
    randomPoolUsed += length;
    return bytes;
}

// A self-contained blob: a random 12-byte nonce, then the sealed bytes.
export function sealBlob(key: Buffer, plaintext: Uint8Array, aad?: Buffer): Buffer {
    const nonce = randomNonce(12);
    return Buffer.concat([nonce, aeadSeal(key, nonce, plaintext, aad)]);
}

export function openBlob(key: Buffer, blob: Buffer, aad?: Buffer): Buffer {
    return aeadOpen(key, blob.subarray(0, 12), blob.subarray(12), aad);
}
