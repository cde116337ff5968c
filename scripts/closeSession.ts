// npx blueprint run closeSession --testnet --mnemonic -- --session SESSION
// Client: close the session; the provider has the close grace period for a final claim, then finalize.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';

export async function run(provider: NetworkProvider, args: string[]) {
    const opts = w.parseOptions(args);
    const session = await w.deployedTarget(provider, opts, 'session', 'Session');
    const body = beginCell()
        .store(w.storeCloseSession({ $$type: 'CloseSession', queryId: 0n }))
        .endCell();
    return w.sendSmall(provider, session, body, 'CloseSession');
}
