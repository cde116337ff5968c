// npx blueprint run acceptOwnership --testnet --mnemonic -- --root ROOT  [--value TON]
// Governance, step 2 of 2: the proposed owner's wallet accepts ownership.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const body = beginCell()
        .store(w.storeAcceptOwnership({ $$type: 'AcceptOwnership', queryId: 0n }))
        .endCell();
    return cli.sendToRoot(provider, opts, body, 'AcceptOwnership');
}
