// HPKE (RFC 9180) in Auth mode for the one suite Cocoon uses: DHKEM(X25519, HKDF-SHA256),
// HKDF-SHA256, AES-128-GCM, single-shot (one message per context) plus the secret exporter.
//
// Why not @hpke/core, the maintained package (which the tests still check this against, both
// ways, with RFC 9180's test vectors besides): it goes through WebCrypto's promise-based API, a
// dozen awaited calls per message, about 2.9 ms to seal and 2.0 ms to open here. This is the same
// construction on node:crypto's synchronous OpenSSL calls (X25519, HMAC, AES-GCM): about 0.1 ms.
import { aeadOpen, aeadSeal } from './aead';
import { KeyObject, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync } from 'crypto';

const KEM_ID = 0x0020; // DHKEM(X25519, HKDF-SHA256)
const KDF_ID = 0x0001; // HKDF-SHA256
const AEAD_ID = 0x0001; // AES-128-GCM
const MODE_AUTH = 0x02;
const VERSION = Buffer.from('HPKE-v1');
const KEM_SUITE = Buffer.concat([Buffer.from('KEM'), u16(KEM_ID)]);
const HPKE_SUITE = Buffer.concat([Buffer.from('HPKE'), u16(KEM_ID), u16(KDF_ID), u16(AEAD_ID)]);
const NK = 16; // AES-128 key
const NN = 12; // GCM nonce
const NH = 32; // SHA-256

export class HpkeError extends Error {
    constructor(message: string) {
        super(message);
        this.name = 'HpkeError';
    }
}

function u16(n: number): Buffer {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(n);
    return b;
}

function extract(salt: Buffer, ikm: Buffer): Buffer {
    return createHmac('sha256', salt.length ? salt : Buffer.alloc(NH))
        .update(ikm)
        .digest();
}

function expand(prk: Buffer, info: Buffer, length: number): Buffer {
    const blocks: Buffer[] = [];
    let previous = Buffer.alloc(0);
    for (let i = 1; blocks.length * NH < length; i++) {
        previous = createHmac('sha256', prk)
            .update(previous)
            .update(info)
            .update(Buffer.from([i]))
            .digest();
        blocks.push(previous);
    }
    return (blocks.length === 1 ? previous : Buffer.concat(blocks)).subarray(0, length);
}

const labeledExtract = (suite: Buffer, salt: Buffer, label: string, ikm: Buffer) =>
    extract(salt, Buffer.concat([VERSION, suite, Buffer.from(label), ikm]));

const labeledExpand = (suite: Buffer, prk: Buffer, label: string, info: Buffer, length: number) =>
    expand(prk, Buffer.concat([u16(length), VERSION, suite, Buffer.from(label), info]), length);

// X25519 keys as node:crypto objects, from and to 32 raw bytes. JWK is the fast way in and out
// (DER import costs some 20 times more); private keys (an enclave's, a session's: long-lived) are
// kept once imported.
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const privateKeys = new Map<string, KeyObject>();

function importPublic(raw: Buffer): KeyObject {
    if (raw.length !== 32) throw new HpkeError(`an X25519 public key is 32 bytes, not ${raw.length}`);
    return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw.toString('base64url') }, format: 'jwk' });
}

function importPrivate(raw: Buffer): KeyObject {
    if (raw.length !== 32) throw new HpkeError(`an X25519 private key is 32 bytes, not ${raw.length}`);
    const id = raw.toString('hex');
    let key = privateKeys.get(id);
    if (!key) {
        key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: 'der', type: 'pkcs8' });
        if (privateKeys.size >= 1024) privateKeys.delete(privateKeys.keys().next().value!);
        privateKeys.set(id, key);
    }
    return key;
}

const rawPublic = (key: KeyObject) => Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
const rawPrivate = (key: KeyObject) => Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url');

export interface X25519KeyPair {
    publicKey: Buffer; // 32 bytes
    privateKey: Buffer; // 32 bytes
}

export function generateX25519KeyPair(): X25519KeyPair {
    const { publicKey, privateKey } = generateKeyPairSync('x25519');
    return { publicKey: rawPublic(publicKey), privateKey: rawPrivate(privateKey) };
}

function dh(privateKey: Buffer | KeyObject, publicKey: Buffer): Buffer {
    const own = Buffer.isBuffer(privateKey) ? importPrivate(privateKey) : privateKey;
    const shared = diffieHellman({ privateKey: own, publicKey: importPublic(publicKey) });
    if (shared.every((b) => b === 0)) throw new HpkeError('the X25519 shared secret is zero: a malformed public key');
    return shared;
}

// The static-static DH of Auth mode (a session's client key with an enclave key) is the same for
// every message of a session: kept, bounded, like the imported private keys.
const staticShared = new Map<string, Buffer>();

function staticDh(privateKey: Buffer, publicKey: Buffer): Buffer {
    const id = privateKey.toString('hex') + publicKey.toString('hex');
    let shared = staticShared.get(id);
    if (!shared) {
        shared = dh(privateKey, publicKey);
        if (staticShared.size >= 4096) staticShared.delete(staticShared.keys().next().value!);
        staticShared.set(id, shared);
    }
    return shared;
}

function sharedSecret(dhs: Buffer, kemContext: Buffer): Buffer {
    const prk = labeledExtract(KEM_SUITE, Buffer.alloc(0), 'eae_prk', dhs);
    return labeledExpand(KEM_SUITE, prk, 'shared_secret', kemContext, NH);
}

// The key schedule's context for an info (a session's: the same for all its messages), kept.
const PSK_ID_HASH = labeledExtract(HPKE_SUITE, Buffer.alloc(0), 'psk_id_hash', Buffer.alloc(0)); // no PSK
const contexts = new Map<string, Buffer>();

function scheduleContext(info: Buffer): Buffer {
    const id = info.toString('hex');
    let context = contexts.get(id);
    if (!context) {
        context = Buffer.concat([Buffer.from([MODE_AUTH]), PSK_ID_HASH, labeledExtract(HPKE_SUITE, Buffer.alloc(0), 'info_hash', info)]);
        if (contexts.size >= 4096) contexts.delete(contexts.keys().next().value!);
        contexts.set(id, context);
    }
    return context;
}

// The key schedule of mode_auth (no PSK): the AEAD key and nonce of message 0, and the exporter.
function keySchedule(shared: Buffer, info: Buffer) {
    const context = scheduleContext(info);
    const secret = labeledExtract(HPKE_SUITE, shared, 'secret', Buffer.alloc(0));
    return {
        key: labeledExpand(HPKE_SUITE, secret, 'key', context, NK),
        nonce: labeledExpand(HPKE_SUITE, secret, 'base_nonce', context, NN),
        exporterSecret: labeledExpand(HPKE_SUITE, secret, 'exp', context, NH),
    };
}

export interface HpkeContext {
    export(exporterContext: Buffer, length: number): Buffer;
}

function exporter(exporterSecret: Buffer): HpkeContext {
    return { export: (ctx, length) => labeledExpand(HPKE_SUITE, exporterSecret, 'sec', ctx, length) };
}

// Sender: AuthEncap to `recipientPublicKey` from `sender`, then seals `plaintext` as message 0.
// (`ephemeral` is for test vectors only: every message needs a fresh one.)
export function sealAuth(
    recipientPublicKey: Buffer,
    sender: X25519KeyPair,
    info: Buffer,
    aad: Buffer,
    plaintext: Uint8Array,
    ephemeral?: X25519KeyPair,
): { enc: Buffer; ciphertext: Buffer; context: HpkeContext } {
    let enc: Buffer;
    let ephemeralKey: Buffer | KeyObject;
    if (ephemeral) [enc, ephemeralKey] = [ephemeral.publicKey, ephemeral.privateKey];
    else {
        const fresh = generateKeyPairSync('x25519');
        [enc, ephemeralKey] = [rawPublic(fresh.publicKey), fresh.privateKey];
    }
    const dhs = Buffer.concat([dh(ephemeralKey, recipientPublicKey), staticDh(sender.privateKey, recipientPublicKey)]);
    const shared = sharedSecret(dhs, Buffer.concat([enc, recipientPublicKey, sender.publicKey]));
    const { key, nonce, exporterSecret } = keySchedule(shared, info);
    return { enc, ciphertext: aeadSeal(key, nonce, plaintext, aad), context: exporter(exporterSecret) };
}

// Recipient: AuthDecap of `enc` from `senderPublicKey`, then opens message 0. Throws HpkeError
// when it does not open (altered, another key, info or aad).
export function openAuth(
    recipient: X25519KeyPair,
    senderPublicKey: Buffer,
    enc: Buffer,
    info: Buffer,
    aad: Buffer,
    ciphertext: Buffer,
): { plaintext: Buffer; context: HpkeContext } {
    if (ciphertext.length < 16) throw new HpkeError('the ciphertext is shorter than its tag');
    const dhs = Buffer.concat([dh(recipient.privateKey, enc), staticDh(recipient.privateKey, senderPublicKey)]);
    const shared = sharedSecret(dhs, Buffer.concat([enc, recipient.publicKey, senderPublicKey]));
    const { key, nonce, exporterSecret } = keySchedule(shared, info);
    try {
        return { plaintext: aeadOpen(key, nonce, ciphertext, aad), context: exporter(exporterSecret) };
    } catch {
        throw new HpkeError('the message does not open');
    }
}
