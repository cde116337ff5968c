// npx blueprint run closeSession --testnet --mnemonic -- --session SESSION
// Client: close the session; the provider has the close grace period for a final claim, then finalize.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const session = await cli.sessionTarget(provider, opts);
    const body = beginCell()
        .store(w.storeCloseSession({ $$type: 'CloseSession', queryId: 0n }))
        .endCell();
    return cli.sendSmall(provider, opts, session, body, 'CloseSession');
}
