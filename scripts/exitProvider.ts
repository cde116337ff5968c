// npx blueprint run exitProvider --testnet --mnemonic -- --provider PROVIDER
// Owner: stop taking sessions so that the whole unlocked stake can be unstaked.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const target = await cli.deployedTarget(provider, opts, 'provider', 'Provider');
    const body = beginCell()
        .store(w.storeExitProvider({ $$type: 'ExitProvider', queryId: 0n }))
        .endCell();
    return cli.sendSmall(provider, opts, target, body, 'ExitProvider');
}
