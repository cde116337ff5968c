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
// - A streamed response is a sequence of frames under a key exported from the same context with a
//   fresh random salt the worker picks for each response (sent in the clear with the first frame):
//   a request envelope replayed and answered again never reuses a key and nonce. Frame i's nonce is
//   the exported base nonce XOR i and its additional data says whether it is the last, so frames
//   that are altered, reordered, repeated, dropped or cut off after any frame but the last do not
//   open (StreamOpener).
import { aeadOpen, aeadSeal, randomNonce } from './aead';
import { Address } from '@ton/core';
import { generateX25519KeyPair, openAuth, sealAuth } from './hpke';

const REQUEST_INFO = Buffer.from('cocoon-request-v1');
const RESPONSE_LABEL = Buffer.from('cocoon-response-v1');
const STREAM_KEY_LABEL = Buffer.from('cocoon-stream-key-v1');
const STREAM_NONCE_LABEL = Buffer.from('cocoon-stream-nonce-v1');
const FRAME_AAD = { more: Buffer.from('cocoon-stream-frame'), last: Buffer.from('cocoon-stream-last-frame') };

/** An encrypted request as the client posts it to the worker (sealRequest makes it, openRequest opens it). */
export interface RequestEnvelope {
    // Chosen by the client, unique within the session: a retry carries the same id (sealed anew)
    // and gets the same answer, charged once.
    requestId: string;
    clientKey: string; // base64: the client's X25519 session key (its hash is in the Session)
    enc: string; // base64: the HPKE encapsulated key
    ciphertext: string; // base64
    resume?: true; // only go on with the answer kept for this id (authenticated: requestAad)
    // the run of the worker it is sealed for (its identity's `boot`, authenticated: requestAad): a
    // restarted worker refuses envelopes of its earlier runs, which the host could otherwise replay
    boot?: string;
}

/** A whole (not streamed) encrypted answer: AES-128-GCM under a key only the requesting client can derive. */
export interface ResponseEnvelope {
    nonce: string; // base64, 12 bytes
    ciphertext: string; // base64, AES-128-GCM with the tag appended
}

/** One frame of an encrypted stream, as a line of the worker's application/x-ndjson response. */
export interface StreamFrame {
    salt?: string; // base64, 16 bytes: on the first frame only (the stream's keys derive from it)
    last: boolean; // the frame that ends the stream (its additional data says so too)
    ciphertext: string; // base64
}

/**
 * A request, response or stream frame does not decrypt or authenticate: it was altered, replayed, reordered, cut off,
 * or not meant for this key or session.
 */
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

/**
 * A fresh X25519 key pair, both halves as 32 raw bytes (the worker makes one at start, a client
 * one per session).
 */
export async function generateEncryptionKeyPair(): Promise<SessionKey> {
    return generateX25519KeyPair();
}

function aesSeal(key: Buffer, plaintext: Uint8Array): ResponseEnvelope {
    const nonce = randomNonce(12);
    return { nonce: nonce.toString('base64'), ciphertext: aeadSeal(key, nonce, plaintext).toString('base64') };
}

function aesOpen(key: Buffer, envelope: ResponseEnvelope): Buffer {
    try {
        return aeadOpen(key, Buffer.from(envelope.nonce, 'base64'), Buffer.from(envelope.ciphertext, 'base64'));
    } catch {
        throw new DecryptionError('the response does not decrypt: it was altered, or not meant for this request');
    }
}

/** An X25519 key pair as 32 raw bytes each: a client's session key, or the worker enclave's encryption key. */
export interface SessionKey {
    publicKey: Buffer; // X25519, 32 bytes; OpenSession commits to clientKeyHashOf(publicKey)
    privateKey: Buffer;
}

/**
 * Client side: encrypts `plaintext` from the session key to the enclave key for `session`; keep
 * `openResponse` to read the answer.
 */
export async function sealRequest(
    enclaveEncryptionKey: Buffer,
    session: Address,
    clientKey: SessionKey,
    plaintext: Uint8Array,
    requestId: string,
    o: { resume?: boolean; boot?: string } = {},
) {
    const sealed = sealAuth(enclaveEncryptionKey, clientKey, info(session), requestAad(requestId, o.resume, o.boot), plaintext);
    const responseKey = sealed.context.export(RESPONSE_LABEL, 16);
    const envelope: RequestEnvelope = {
        requestId,
        clientKey: clientKey.publicKey.toString('base64'),
        enc: sealed.enc.toString('base64'),
        ciphertext: sealed.ciphertext.toString('base64'),
        ...(o.resume ? { resume: true as const } : {}),
        ...(o.boot ? { boot: o.boot } : {}),
    };
    return {
        envelope,
        openResponse: (e: ResponseEnvelope) => aesOpen(responseKey, e),
        openStream: () => new StreamOpener((salt) => streamKeys(sealed.context, salt)),
    };
}

// What the request's encryption authenticates beside the plaintext: its id, whether it only asks
// to go on with an answer the worker kept (a stream cut off mid-way: serving it anew would charge
// a second, different answer), and the worker run it is for. Nobody on the way can change them.
function requestAad(requestId: string, resume?: boolean, boot?: string): Buffer {
    return Buffer.from(`${boot ? `boot:${boot}|` : ''}${resume ? `${requestId}|resume` : requestId}`);
}

/**
 * Worker side: decrypts a request meant for `session` and authenticated by the client key the
 * envelope names (the caller checks that key against the session's committed hash);
 * `sealResponse` encrypts the answer for the client that sent it.
 */
export async function openRequest(enclaveKey: SessionKey, session: Address, envelope: RequestEnvelope) {
    let opened;
    try {
        opened = openAuth(
            enclaveKey,
            Buffer.from(envelope.clientKey, 'base64'),
            Buffer.from(envelope.enc, 'base64'),
            info(session),
            requestAad(envelope.requestId, envelope.resume, envelope.boot),
            Buffer.from(envelope.ciphertext, 'base64'),
        );
    } catch {
        throw new DecryptionError(
            'the request does not decrypt: it was altered, sealed for another session, request id or enclave key, or not by the named client key',
        );
    }
    const responseKey = opened.context.export(RESPONSE_LABEL, 16);
    return {
        plaintext: opened.plaintext,
        sealResponse: (bytes: Uint8Array) => aesSeal(responseKey, bytes),
        sealStream: () => {
            const salt = randomNonce(16);
            return new StreamSealer(streamKeys(opened.context, salt), salt);
        },
    };
}

interface StreamKeys {
    key: Buffer;
    baseNonce: Buffer;
}

function streamKeys(context: { export(exporterContext: Buffer, length: number): Buffer }, salt: Buffer): StreamKeys {
    return {
        key: context.export(Buffer.concat([STREAM_KEY_LABEL, salt]), 16),
        baseNonce: context.export(Buffer.concat([STREAM_NONCE_LABEL, salt]), 12),
    };
}

function frameNonce(keys: StreamKeys, seq: number): Buffer {
    const nonce = Buffer.from(keys.baseNonce);
    nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ seq) >>> 0, 8); // (^ gives a signed 32-bit result)
    return nonce;
}

/** The worker's side of a streamed response: frames in order, the last one marked. */
export class StreamSealer {
    private seq = 0;
    private ended = false;
    constructor(
        private readonly keys: StreamKeys,
        private readonly salt: Buffer,
    ) {}

    seal(bytes: Uint8Array, last = false): StreamFrame {
        if (this.ended) throw new Error('the stream already ended');
        if (this.seq === 0xffffffff) throw new Error('a stream has at most 2^32 - 1 frames');
        this.ended = last;
        const first = this.seq === 0;
        const sealed = aeadSeal(this.keys.key, frameNonce(this.keys, this.seq++), bytes, last ? FRAME_AAD.last : FRAME_AAD.more);
        return { ...(first ? { salt: this.salt.toString('base64') } : {}), last, ciphertext: sealed.toString('base64') };
    }
}

/**
 * The client's side: opens frames in the order they were sealed; throws DecryptionError for a
 * frame that was altered, reordered, repeated or follows the last one. `ended` tells a stream
 * that was cut off (no last frame) from one that ended.
 */
export class StreamOpener {
    private seq = 0;
    private done = false;
    private keys: StreamKeys | undefined;
    constructor(private readonly keysFor: (salt: Buffer) => StreamKeys) {}

    get ended(): boolean {
        return this.done;
    }

    open(frame: StreamFrame): Buffer {
        if (this.done) throw new DecryptionError('a frame arrived after the last one of the stream');
        if (this.seq === 0) {
            const salt = Buffer.from(frame.salt ?? '', 'base64');
            if (salt.length !== 16) throw new DecryptionError('the first frame of the stream carries no 16-byte salt');
            this.keys = this.keysFor(salt);
        }
        const keys = this.keys!;
        let bytes: Buffer;
        try {
            const aad = frame.last ? FRAME_AAD.last : FRAME_AAD.more;
            bytes = aeadOpen(keys.key, frameNonce(keys, this.seq), Buffer.from(frame.ciphertext, 'base64'), aad);
        } catch {
            throw new DecryptionError(
                `frame ${this.seq} of the stream does not open: it was altered, reordered, repeated or not meant for this request`,
            );
        }
        this.seq += 1;
        this.done = frame.last;
        return bytes;
    }
}
