// npx blueprint run updateListing --testnet --mnemonic -- --provider PROVIDER --listing FILE
// Owner: replace the listing (hardware, endpoint, models and prices) with a listing file.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const target = await cli.deployedTarget(provider, opts, 'provider', 'Provider');
    const listing = await cli.listingFileOption(provider, opts);
    const body = beginCell()
        .store(w.storeUpdateListing({ $$type: 'UpdateListing', queryId: 0n, listing }))
        .endCell();
    return cli.sendSmall(provider, opts, target, body, 'UpdateListing');
}
