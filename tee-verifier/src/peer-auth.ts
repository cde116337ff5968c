// What verifiers prove to each other when one asks another to co-sign (POST /v1/cosign):
// - a nonce ticket: the issuing verifier's ed25519 signature over the nonce it issued, for which
//   Root, provider and time window. A co-signer checks it itself and spends the nonce in its own
//   durable set, so every signature in a proof covers a fresh nonce issued by a current verifier.
// - the request's signature: the asking verifier signs the exact body it sends, with a timestamp,
//   so only a key on Root's verifier set can ask, and nobody can alter what it asked.
import { Address } from '@ton/core';
import type { KeyPair } from '@ton/crypto';
import { ed25519Sign, ed25519Verify } from '../../wrappers';
import { createHash } from 'crypto';
import { NonceTicket, PEER_HEADERS } from '../../protocol/verifier-api';

const TICKET_DOMAIN = 'cocoon-nonce-ticket-v1';
const REQUEST_DOMAIN = 'cocoon-cosign-request-v1';

export interface TicketFields {
    globalId: number;
    root: Address;
    provider: Address;
    nonce: bigint;
    issuedAt: number;
    expiresAt: number;
}

const u64 = (n: number | bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    return b;
};
const int32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n);
    return b;
};
const address = (a: Address) => Buffer.concat([Buffer.from([a.workChain & 0xff]), a.hash]);

// SHA-256(domain || global id (int32) || Root || provider (workchain int8, account id) || nonce
// (uint64) || issuedAt (uint64) || expiresAt (uint64)).
function ticketDigest(f: TicketFields): Buffer {
    return createHash('sha256')
        .update(TICKET_DOMAIN)
        .update(int32(f.globalId))
        .update(address(f.root))
        .update(address(f.provider))
        .update(u64(f.nonce))
        .update(u64(f.issuedAt))
        .update(u64(f.expiresAt))
        .digest();
}

export function signTicket(f: TicketFields, key: KeyPair): NonceTicket {
    return { issuer: key.publicKey, issuedAt: f.issuedAt, expiresAt: f.expiresAt, signature: ed25519Sign(ticketDigest(f), key.secretKey) };
}

export function ticketSignatureValid(f: Omit<TicketFields, 'issuedAt' | 'expiresAt'>, t: NonceTicket): boolean {
    return ed25519Verify(ticketDigest({ ...f, issuedAt: t.issuedAt, expiresAt: t.expiresAt }), t.signature, t.issuer);
}

export interface PeerAuth {
    publicKey: Buffer;
    timestamp: number; // unix seconds
    signature: Buffer;
}

// SHA-256(domain || timestamp (uint64) || SHA-256(body)).
const requestDigest = (timestamp: number, body: Buffer) =>
    createHash('sha256').update(REQUEST_DOMAIN).update(u64(timestamp)).update(createHash('sha256').update(body).digest()).digest();

export function authenticate(body: Buffer, key: KeyPair, timestamp: number): PeerAuth {
    return { publicKey: key.publicKey, timestamp, signature: ed25519Sign(requestDigest(timestamp, body), key.secretKey) };
}

export function authHeaders(a: PeerAuth): Record<string, string> {
    return {
        [PEER_HEADERS.key]: a.publicKey.toString('hex'),
        [PEER_HEADERS.time]: String(a.timestamp),
        [PEER_HEADERS.signature]: a.signature.toString('hex'),
    };
}

// The asking verifier's key when the headers sign exactly `body` at a time within `skew` seconds
// of `now`; otherwise why not. Anyone can sign with some key (even one that makes any signature
// verify): the asker is a verifier only once its key is found in Root's set (Attestor.cosign).
export function authenticatedPeer(
    headers: Record<string, string | string[] | undefined>,
    body: Buffer,
    now: number,
    skew: number,
): { publicKey: Buffer } | { problem: string } {
    const key = headers[PEER_HEADERS.key];
    const time = headers[PEER_HEADERS.time];
    const signature = headers[PEER_HEADERS.signature];
    if (typeof key !== 'string' || typeof time !== 'string' || typeof signature !== 'string') {
        return { problem: `co-signing is for verifiers: sign the request (${Object.values(PEER_HEADERS).join(', ')})` };
    }
    if (!/^[0-9a-f]{64}$/.test(key) || !/^[0-9a-f]{128}$/.test(signature) || !/^[0-9]{1,12}$/.test(time)) {
        return { problem: 'malformed peer authentication headers' };
    }
    const timestamp = Number(time);
    if (Math.abs(timestamp - now) > skew)
        return { problem: `the request is signed at ${timestamp}, more than ${skew} s from now (${now})` };
    const publicKey = Buffer.from(key, 'hex');
    if (!ed25519Verify(requestDigest(timestamp, body), Buffer.from(signature, 'hex'), publicKey)) {
        return { problem: 'the request signature does not verify' };
    }
    return { publicKey };
}
