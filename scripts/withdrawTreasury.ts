// npx blueprint run withdrawTreasury --testnet --mnemonic -- --root ROOT --amount TON --to ADDRESS [--value TON]
// Governance: pay part of the treasury to an address.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const amount = cli.parseTon(await cli.requiredOption(provider, opts, 'amount', 'Amount (TON)'), '--amount');
    const to = cli.parseAddress(await cli.requiredOption(provider, opts, 'to', 'Recipient address'), '--to');
    const body = beginCell()
        .store(w.storeWithdrawTreasury({ $$type: 'WithdrawTreasury', queryId: 0n, amount, to }))
        .endCell();
    return cli.sendToRoot(provider, opts, body, 'WithdrawTreasury');
}
