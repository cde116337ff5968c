// npx blueprint run cancelChange --testnet --mnemonic -- --root ROOT --id N [--value TON]
// Governance: cancels a proposed change before it executes (Root's owner only).
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const { root, id } = await cli.pendingChangeOption(provider, opts);
    const body = beginCell()
        .store(w.storeCancelChange({ $$type: 'CancelChange', queryId: 0n, id: BigInt(id) }))
        .endCell();
    const outcome = await cli.sendAndReport(provider, {
        to: root,
        value: cli.valueOption(opts),
        minValue: w.GOVERNANCE_MIN_VALUE,
        body,
        what: `CancelChange #${id} to Root`,
        quiet: cli.quietOption(opts),
    });
    if (outcome.ok) provider.ui().write(`Change #${id} cancelled: it will not apply`);
    return outcome;
}
