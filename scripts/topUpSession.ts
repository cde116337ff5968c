// npx blueprint run topUpSession --testnet --mnemonic -- --session SESSION --amount TON
// Client: add the amount (less gas) to an open session's budget.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const session = await cli.sessionTarget(provider, opts);
    const amount = cli.parseTon(await cli.requiredOption(provider, opts, 'amount', 'Amount (TON)'), '--amount');
    const body = beginCell()
        .store(w.storeTopUpSession({ $$type: 'TopUpSession', queryId: 0n }))
        .endCell();
    return cli.sendAndReport(provider, {
        to: session,
        value: amount,
        minValue: w.STAKE_MIN_VALUE,
        body,
        what: 'TopUpSession',
        quiet: cli.quietOption(opts),
    });
}
