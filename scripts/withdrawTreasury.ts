// npx blueprint run withdrawTreasury --testnet --mnemonic -- --root ROOT --amount TON --to ADDRESS [--value TON]
// Governance: pay part of the treasury to an address.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';

export async function run(provider: NetworkProvider, args: string[]) {
    const opts = w.parseOptions(args);
    const amount = w.parseTon(await w.requiredOption(provider, opts, 'amount', 'Amount (TON)'), '--amount');
    const to = w.parseAddress(await w.requiredOption(provider, opts, 'to', 'Recipient address'), '--to');
    const body = beginCell()
        .store(w.storeWithdrawTreasury({ $$type: 'WithdrawTreasury', queryId: 0n, amount, to }))
        .endCell();
    return w.sendToRoot(provider, opts, body, 'WithdrawTreasury');
}
