// Ed25519 through node:crypto (OpenSSL), with keys in @ton/crypto's form: a 32-byte public key and
// a 64-byte secret key (the seed, then the public key), as TON wallets, the contracts' signature
// checks and the key files use. @ton/crypto signs with tweetnacl, in JavaScript: about 5 ms to
// sign and 12 ms to verify against 0.07 and 0.16 ms here (`npm run bench:worker`, its steps
// table), and slower still under jest, where it was most of the time a test network took to start.
// The signatures are the same bytes (Ed25519 is deterministic); verification here also refuses a
// non-canonical signature (S not below the group order), which tweetnacl accepts.
import { KeyObject, createPrivateKey, createPublicKey, sign, verify } from 'crypto';
import type { KeyPair } from '@ton/crypto';

// DER prefixes that wrap a raw 32-byte seed (PKCS#8) or public key (SPKI) for node:crypto.
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

// Keys once imported, by their bytes: a process uses a few (an enclave's, a verifier's, the
// workers' it checks), each for every message; the bound only keeps a long run's map small.
const imported = new Map<string, KeyObject>();
const IMPORTED_KEPT = 256;

function keyObject(kind: 'private' | 'public', raw: Buffer): KeyObject {
    const id = kind + raw.toString('hex');
    let key = imported.get(id);
    if (!key) {
        key =
            kind === 'private'
                ? createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, raw]), format: 'der', type: 'pkcs8' })
                : createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: 'der', type: 'spki' });
        if (imported.size >= IMPORTED_KEPT) imported.delete(imported.keys().next().value!);
        imported.set(id, key);
    }
    return key;
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
    return sign(null, message, keyObject('private', secretKey.subarray(0, 32)));
}

/** Whether `signature` is the Ed25519 signature of `message` by `publicKey` (false for a key or signature of the wrong length). */
export function ed25519Verify(message: Buffer, signature: Buffer, publicKey: Buffer): boolean {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    try {
        return verify(null, message, keyObject('public', publicKey), signature);
    } catch {
        return false; // (a public key that is not a point of the curve)
    }
}
