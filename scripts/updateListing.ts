// npx blueprint run updateListing --testnet --mnemonic -- --provider PROVIDER --listing FILE
// Owner: replace the listing (hardware, endpoint, models and prices) with a listing file.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';

export async function run(provider: NetworkProvider, args: string[]) {
    const opts = w.parseOptions(args);
    const target = await w.deployedTarget(provider, opts, 'provider', 'Provider');
    const listing = await w.listingFileOption(provider, opts);
    const body = beginCell()
        .store(w.storeUpdateListing({ $$type: 'UpdateListing', queryId: 0n, listing }))
        .endCell();
    return w.sendSmall(provider, target, body, 'UpdateListing');
}
