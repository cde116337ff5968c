// npx blueprint run finalizeSession --testnet --mnemonic -- --session SESSION
// Anyone (a client, its provider, a worker): settle a session whose claims are over (or take back an
// escrow never accepted); the escrow goes to the client, the rest of the value back to the sender.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const session = await cli.sessionTarget(provider, opts);
    const body = beginCell()
        .store(w.storeFinalizeSession({ $$type: 'FinalizeSession', queryId: 0n }))
        .endCell();
    return cli.sendAndReport(provider, {
        to: session,
        value: w.FINALIZE_VALUE,
        minValue: w.FINALIZE_MIN_VALUE,
        body,
        what: 'FinalizeSession',
        quiet: cli.quietOption(opts),
    });
}
