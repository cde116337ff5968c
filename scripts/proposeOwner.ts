// npx blueprint run proposeOwner --testnet --mnemonic -- --root ROOT --new-owner ADDRESS [--value TON]
// Governance, step 1 of 2: propose a new owner (it must then run acceptOwnership).
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const newOwner = cli.parseAddress(await cli.requiredOption(provider, opts, 'new-owner', 'New owner address'), '--new-owner');
    const body = beginCell()
        .store(w.storeProposeOwner({ $$type: 'ProposeOwner', queryId: 0n, newOwner }))
        .endCell();
    return cli.sendToRoot(provider, opts, body, 'ProposeOwner');
}
