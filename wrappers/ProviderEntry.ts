import { Address } from '@ton/core';
import { ProviderEntry } from '../build/Root/tact_ProviderEntry';

export { ProviderEntry };

/**
 * The index entry of Root's `number`-th registered provider (contracts/provider_entry.tact):
 * numbers run from 1 to Root's provider_count.
 */
export function providerEntryFor(root: Address, number: number): Promise<ProviderEntry> {
    return ProviderEntry.fromInit(root, BigInt(number));
}
