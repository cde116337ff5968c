// npx blueprint run updateListing --testnet --mnemonic -- --provider PROVIDER --listing FILE
// Owner: replace the listing (hardware, endpoint, models and prices) with a listing file.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import { readFileSync } from 'fs';
import * as w from '../wrappers';

export async function run(provider: NetworkProvider, args: string[]) {
    const opts = w.parseOptions(args);
    const target = w.parseAddress(await w.requiredOption(provider, opts, 'provider', 'Provider address'), '--provider');
    if (!(await provider.isContractDeployed(target)))
        throw new w.InputError(`no Provider is deployed at --provider ${target.toString()}: register first`);
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
    return w.sendAndReport(provider, {
        to: target,
        value: w.GOVERNANCE_VALUE,
        minValue: w.GOVERNANCE_MIN_VALUE,
        body,
        what: 'UpdateListing',
    });
}
