import { Address } from '@ton/core';
import { Provider } from '../build/Provider/tact_Provider';
import { SESSION_CODE_DEPTH, SESSION_CODE_HASH, STATUS_NEW } from '../build/Root/tact_Root';

export { Provider };

/** A Provider's status (STATUS_* constants) by name, for messages and logs. */
export const PROVIDER_STATUS_NAMES: Record<number, string> = {
    0: 'new',
    1: 'pending',
    2: 'active',
    3: 'paused',
    4: 'jailed',
    5: 'exiting',
};

/**
 * The Provider of `owner` under `root`, with the initial state and the Session code hash that
 * providerAccountId() in contracts/addresses.tact hashes (tests/Addresses.spec.ts checks that
 * both give the same address).
 */
export function providerForOwner(root: Address, owner: Address): Promise<Provider> {
    return Provider.fromInit(root, owner, SESSION_CODE_HASH, SESSION_CODE_DEPTH, STATUS_NEW, 0n, 0n, null, null, null);
}
