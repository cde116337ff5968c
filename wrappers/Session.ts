import { Address } from '@ton/core';
import { sha256 } from '@noble/hashes/sha256';
import { Session } from '../build/Session/tact_Session';
import { SESSION_CLOSING, SESSION_NEW } from '../build/Root/tact_Root';

export { Session };

export const SESSION_STATUS_NAMES: Record<number, string> = {
    0: 'new',
    1: 'opening',
    2: 'open',
    3: 'closing',
    4: 'finalized',
};

// The Session of `client` with `provider` for `nonce`, with the same initial state as
// sessionInit() in contracts/session.tact. A client picks a fresh nonce per session.
export function sessionFor(provider: Address, client: Address, nonce: bigint): Promise<Session> {
    return Session.fromInit(provider, client, nonce, SESSION_NEW, 0n, 0n, 0n, 0n, 0n, false, 0n, null);
}

// What OpenSession commits to: the first 160 bits of SHA-256 of the client's X25519 session key.
// The worker serves a session only to requests HPKE-authenticated with a key of this hash.
export function clientKeyHashOf(clientPublicKey: Buffer): bigint {
    if (clientPublicKey.length !== 32) throw new RangeError('a client session key is 32 bytes (X25519)');
    return BigInt('0x' + Buffer.from(sha256(clientPublicKey)).subarray(0, 20).toString('hex'));
}

// Until when a Session accepts claims (claimWindowEnd in contracts/session.tact): the deadline, or
// the close if earlier, plus the grace period.
export function claimWindowEnd(status: number, deadline: number, closedAt: number, gracePeriod: number): number {
    return (status === Number(SESSION_CLOSING) && closedAt < deadline ? closedAt : deadline) + gracePeriod;
}
