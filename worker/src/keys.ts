// The enclave's keys, made in memory when the worker starts and never written anywhere: an
// ed25519 key that signs usage receipts and an X25519 key clients encrypt requests to. The
// verifiers attest both (bound into the quote's report data), so a restart means a new
// attestation, and sessions opened under the old keys can no longer be served (only claimed).
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'crypto';
import { openBlob, sealBlob } from '../../protocol/aead';
import type { KeyPair } from '@ton/crypto';
import { ed25519FromSeed } from '../../wrappers';
import { SessionKey, generateEncryptionKeyPair } from '../../protocol/encryption';

export interface EnclaveKeys {
    signing: KeyPair;
    encryption: SessionKey;
}

export async function generateEnclaveKeys(): Promise<EnclaveKeys> {
    return { signing: ed25519FromSeed(randomBytes(32)), encryption: await generateEncryptionKeyPair() };
}

// Answers kept for retries (meter.ts) are encrypted under a key derived from the enclave's
// X25519 private key: they never sit on disk in plaintext, and only these enclave keys read them.
// `context` (the session, request id and request hash) is the additional data: an answer opens
// only as the answer to the request it was stored for, so a host that moves rows around in the
// database cannot have the worker reseal one client's answer for another.
export interface AnswerStore {
    seal(plaintext: Buffer, context: Buffer): Buffer;
    open(blob: Buffer, context: Buffer): Buffer;
}

export function answerStore(keys: EnclaveKeys): AnswerStore {
    const key = Buffer.from(hkdfSync('sha256', keys.encryption.privateKey, Buffer.alloc(0), 'cocoon-answer-store-v1', 32));
    return {
        seal: (plaintext, context) => sealBlob(key, plaintext, context),
        open: (blob, context) => openBlob(key, blob, context),
    };
}

// The request log's rows (meter.ts RequestRow) carry a MAC under a key derived from the enclave's
// X25519 key: a settlement receipt counts only rows this enclave wrote, not rows the host added or
// altered in its database.
export interface RowAuthenticator {
    mac(bytes: Buffer): Buffer;
    verify(bytes: Buffer, mac: Buffer): boolean;
}

export function rowAuthenticator(keys: EnclaveKeys): RowAuthenticator {
    const key = Buffer.from(hkdfSync('sha256', keys.encryption.privateKey, Buffer.alloc(0), 'cocoon-request-rows-v1', 32));
    const mac = (bytes: Buffer) => createHmac('sha256', key).update(bytes).digest();
    return { mac, verify: (bytes, m) => m.length === 32 && timingSafeEqual(mac(bytes), m) };
}
