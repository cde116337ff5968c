// End-to-end encryption between a client and a worker enclave, defined once: the client SDK
// seals requests, the worker opens them. HPKE (RFC 9180, protocol/hpke.ts) in Auth mode:
// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, from the client's session key to the
// enclave's X25519 key that the verifiers attested.
// - Auth mode proves the request comes from the holder of the session key whose hash the client
//   committed in OpenSession, so nobody else can spend a session's budget.
// - The HPKE info binds a request to its session: a ciphertext for one session cannot be replayed
//   into another (and the worker refuses a repeated `enc` within a session).
// - The request id travels in the clear (the worker finds a retried request's stored answer by it)
//   and is the HPKE additional data: it cannot be swapped onto another request.
// - The response is encrypted with a key exported from the same HPKE context (as Oblivious HTTP,
//   RFC 9458, does): only the client that sealed the request can read it.
import { randomBytes } from 'crypto';
import { aeadOpen, aeadSeal } from './aead';
import { Address } from '@ton/core';
import { generateX25519KeyPair, openAuth, sealAuth } from './hpke';

const REQUEST_INFO = Buffer.from('cocoon-request-v1');
const RESPONSE_LABEL = Buffer.from('cocoon-response-v1');

export interface RequestEnvelope {
    // Chosen by the client, unique within the session: a retry carries the same id (sealed anew)
    // and gets the same answer, charged once.
    requestId: string;
    clientKey: string; // base64: the client's X25519 session key (its hash is in the Session)
    enc: string; // base64: the HPKE encapsulated key
    ciphertext: string; // base64
}

export interface ResponseEnvelope {
    nonce: string; // base64, 12 bytes
    ciphertext: string; // base64, AES-128-GCM with the tag appended
}

export class DecryptionError extends Error {
    constructor(message: string) {
        super(message);
        this.name = 'DecryptionError';
    }
}

function info(session: Address): Buffer {
    const workchain = Buffer.alloc(1);
    workchain.writeInt8(session.workChain);
    return Buffer.concat([REQUEST_INFO, workchain, session.hash]);
}

// A fresh X25519 key pair, both halves as 32 raw bytes (the worker makes one at start, a client
// one per session).
export async function generateEncryptionKeyPair(): Promise<SessionKey> {
    return generateX25519KeyPair();
}

function aesSeal(key: Buffer, plaintext: Uint8Array): ResponseEnvelope {
    const nonce = randomBytes(12);
    return { nonce: nonce.toString('base64'), ciphertext: aeadSeal(key, nonce, plaintext).toString('base64') };
}

function aesOpen(key: Buffer, envelope: ResponseEnvelope): Buffer {
    try {
        return aeadOpen(key, Buffer.from(envelope.nonce, 'base64'), Buffer.from(envelope.ciphertext, 'base64'));
    } catch {
        throw new DecryptionError('the response does not decrypt: it was altered, or not meant for this request');
    }
}

export interface SessionKey {
    publicKey: Buffer; // X25519, 32 bytes; OpenSession commits to clientKeyHashOf(publicKey)
    privateKey: Buffer;
}

// Client side: encrypts `plaintext` from the session key to the enclave key for `session`; keep
// `openResponse` to read the answer.
export async function sealRequest(
    enclaveEncryptionKey: Buffer,
    session: Address,
    clientKey: SessionKey,
    plaintext: Uint8Array,
    requestId: string,
) {
    const sealed = sealAuth(enclaveEncryptionKey, clientKey, info(session), Buffer.from(requestId), plaintext);
    const responseKey = sealed.context.export(RESPONSE_LABEL, 16);
    const envelope: RequestEnvelope = {
        requestId,
        clientKey: clientKey.publicKey.toString('base64'),
        enc: sealed.enc.toString('base64'),
        ciphertext: sealed.ciphertext.toString('base64'),
    };
    return { envelope, openResponse: (e: ResponseEnvelope) => aesOpen(responseKey, e) };
}

// Worker side: decrypts a request meant for `session` and authenticated by the client key the
// envelope names (the caller checks that key against the session's committed hash);
// `sealResponse` encrypts the answer for the client that sent it.
export async function openRequest(enclaveKey: SessionKey, session: Address, envelope: RequestEnvelope) {
    let opened;
    try {
        opened = openAuth(
            enclaveKey,
            Buffer.from(envelope.clientKey, 'base64'),
            Buffer.from(envelope.enc, 'base64'),
            info(session),
            Buffer.from(envelope.requestId),
            Buffer.from(envelope.ciphertext, 'base64'),
        );
    } catch {
        throw new DecryptionError(
            'the request does not decrypt: it was altered, sealed for another session, request id or enclave key, or not by the named client key',
        );
    }
    const responseKey = opened.context.export(RESPONSE_LABEL, 16);
    return { plaintext: opened.plaintext, sealResponse: (bytes: Uint8Array) => aesSeal(responseKey, bytes) };
}
