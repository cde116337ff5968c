// npx blueprint run updateListing --testnet --mnemonic -- --provider PROVIDER --listing FILE
// Owner: replace the listing (hardware, endpoint, models and prices) with a listing file.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import { readFileSync } from 'fs';
import * as w from '../wrappers';

export async function run(provider: NetworkProvider, args: string[]) {
    const opts = w.parseOptions(args);
    const target = await w.deployedTarget(provider, opts, 'provider', 'Provider');
    const file = await w.requiredOption(provider, opts, 'listing', 'Listing file (JSON)');
    let listing;
    try {
        listing = w.buildListing(w.listingFromJson(readFileSync(file, 'utf8')));
    } catch (e) {
        throw new w.InputError(`${file}: ${(e as Error).message}`);
    }
    const body = beginCell()
        .store(w.storeUpdateListing({ $$type: 'UpdateListing', queryId: 0n, listing }))
        .endCell();
    return w.sendSmall(provider, target, body, 'UpdateListing');
}
