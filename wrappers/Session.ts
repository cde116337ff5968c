import { Address } from '@ton/core';
import { Session } from '../build/Session/tact_Session';
import { SESSION_NEW } from '../build/Root/tact_Root';

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
    return Session.fromInit(provider, client, nonce, SESSION_NEW, 0n, 0n, 0n, 0n, 0n, false, null);
}
