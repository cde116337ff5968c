// npx blueprint run setParams --testnet --mnemonic -- --root ROOT --params FILE [--value TON]
// Governance: replace the protocol parameters with those of a JSON file (validated first).
// Timelocked once a provider has registered: prints whether it applied at once or was proposed
// (its change id and from when anyone may execute it: executeChange).
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const params = await cli.paramsFileOption(provider, opts);
    const body = beginCell()
        .store(w.storeSetParams({ $$type: 'SetParams', queryId: 0n, params }))
        .endCell();
    return cli.sendGovernanceChange(provider, opts, body, 'SetParams', w.CHANGE_PARAMS);
}
