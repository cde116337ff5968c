// npx blueprint run topUpSession --testnet --mnemonic -- --session SESSION --amount TON
// Client: add the amount (less gas) to an open session's budget.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';

export async function run(provider: NetworkProvider, args: string[]) {
    const opts = w.parseOptions(args);
    const session = await w.deployedTarget(provider, opts, 'session', 'Session');
    const amount = w.parseTon(await w.requiredOption(provider, opts, 'amount', 'Amount (TON)'), '--amount');
    const body = beginCell()
        .store(w.storeTopUpSession({ $$type: 'TopUpSession', queryId: 0n }))
        .endCell();
    return w.sendAndReport(provider, { to: session, value: amount, minValue: w.STAKE_MIN_VALUE, body, what: 'TopUpSession' });
}
