// Ed25519 through node:crypto (OpenSSL), with keys in @ton/crypto's form: a 32-byte public key and
// a 64-byte secret key (the seed, then the public key), as TON wallets, the contracts' signature
// checks and the key files use. @ton/crypto signs with tweetnacl, in JavaScript: about 5 ms to
// sign and 12 ms to verify against 0.07 and 0.16 ms here (`npm run bench:worker`, its steps
// table), and slower still under jest, where it was most of the time a test network took to start.
// The signatures are the same bytes (Ed25519 is deterministic); verification here also refuses a
// non-canonical signature (S not below the group order), which tweetnacl accepts.
import { KeyObject, createPrivateKey, createPublicKey, sign, verify } from 'crypto';
import type { KeyPair } from '@ton/crypto';

// The DER prefix that wraps a raw 32-byte seed (PKCS#8) for node:crypto.
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

// Public keys once imported, by their bytes: a process checks a few (the workers' its client
// talks to, the verifiers'), each for every message; the bound keeps a long run's map small, also
// when keys come from strangers (a verifier checks a co-signing request before it knows the asker).
const publicKeys = new Map<string, KeyObject>();
const PUBLIC_KEYS_KEPT = 256;
// Secret keys once imported, by the key pair's own buffer: no copy of a seed is kept as a string,
// and an entry goes with its key pair (the seed it was imported from is kept with it, so that a
// buffer written over with another key is imported again).
const secretKeys = new WeakMap<Buffer, { seed: Buffer; key: KeyObject }>();

function publicKeyObject(raw: Buffer): KeyObject {
    const id = raw.toString('hex');
    let key = publicKeys.get(id);
    if (!key) {
        // (JWK: a DER import costs about 120 µs here against 16, which matters when keys churn)
        key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
        if (publicKeys.size >= PUBLIC_KEYS_KEPT) publicKeys.delete(publicKeys.keys().next().value!);
        publicKeys.set(id, key);
    }
    return key;
}

function secretKeyObject(secretKey: Buffer): KeyObject {
    const seed = secretKey.subarray(0, 32);
    let kept = secretKeys.get(secretKey);
    if (!kept || !kept.seed.equals(seed)) {
        kept = {
            seed: Buffer.from(seed),
            key: createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' }),
        };
        secretKeys.set(secretKey, kept);
    }
    return kept.key;
}

/** The Ed25519 key pair of a 32-byte seed (verifier and enclave keys alike; as @ton/crypto's keyPairFromSeed). */
export function ed25519FromSeed(seed: Buffer): KeyPair {
    if (seed.length !== 32) throw new RangeError(`an Ed25519 seed is 32 bytes, not ${seed.length}`);
    const jwk = createPublicKey(createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' })).export({
        format: 'jwk',
    });
    const publicKey = Buffer.from(jwk.x!, 'base64url');
    return { publicKey, secretKey: Buffer.concat([seed, publicKey]) };
}

/** The key pair of a 64-byte secret key (seed, then public key); refuses one whose halves do not belong together. */
export function ed25519FromSecretKey(secretKey: Buffer): KeyPair {
    if (secretKey.length !== 64) throw new RangeError(`an Ed25519 secret key is 64 bytes, not ${secretKey.length}`);
    const pair = ed25519FromSeed(secretKey.subarray(0, 32));
    if (!pair.publicKey.equals(secretKey.subarray(32))) throw new RangeError('the secret key does not hold the public key of its seed');
    return pair;
}

/** The Ed25519 signature of `message` by a 64-byte secret key (its seed signs, as @ton/crypto's `sign`). */
export function ed25519Sign(message: Buffer, secretKey: Buffer): Buffer {
    if (secretKey.length !== 64) throw new RangeError(`an Ed25519 secret key is 64 bytes, not ${secretKey.length}`);
    return sign(null, message, secretKeyObject(secretKey));
}

/** Whether `signature` is the Ed25519 signature of `message` by `publicKey` (false for a key or signature of the wrong length). */
export function ed25519Verify(message: Buffer, signature: Buffer, publicKey: Buffer): boolean {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    // (OpenSSL imports any 32 bytes; one that is not a point of the curve verifies nothing)
    return verify(null, message, publicKeyObject(publicKey), signature);
}
