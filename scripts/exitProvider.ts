// npx blueprint run exitProvider --testnet --mnemonic -- --provider PROVIDER
// Owner: stop taking sessions so that the whole unlocked stake can be unstaked.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';

export async function run(provider: NetworkProvider, args: string[]) {
    const opts = w.parseOptions(args);
    const target = await w.deployedTarget(provider, opts, 'provider', 'Provider');
    const body = beginCell()
        .store(w.storeExitProvider({ $$type: 'ExitProvider', queryId: 0n }))
        .endCell();
    return w.sendSmall(provider, target, body, 'ExitProvider');
}
