import { Address } from '@ton/core';
import { Provider } from '../build/Provider/tact_Provider';
import { STATUS_NEW } from '../build/Root/tact_Root';

export { Provider };

export const PROVIDER_STATUS_NAMES: Record<number, string> = {
    0: 'new',
    1: 'pending',
    2: 'active',
    3: 'paused',
    4: 'jailed',
    5: 'exiting',
};

// The Provider of `owner` under `root`, with the same initial state as providerInit() in
// contracts/provider.tact (tests/Provider.spec.ts checks both give the same address).
export function providerForOwner(root: Address, owner: Address): Promise<Provider> {
    return Provider.fromInit(root, owner, STATUS_NEW, 0n, 0n, null, null, null);
}
