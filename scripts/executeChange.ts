// npx blueprint run executeChange --testnet --mnemonic -- --root ROOT --id N [--value TON]
// Anyone: executes a proposed governance change once its timelock has passed (showProtocol lists
// the pending changes and when each may execute), in the order they were proposed. Root checks
// the change again against its state of now: one that no longer applies, or whose 7-day execution
// window passed, is dropped instead (and says so).
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const ui = provider.ui();
    const opts = cli.parseOptions(args);
    const { root, id, pending, description } = await cli.pendingChangeOption(provider, opts);
    const body = beginCell()
        .store(w.storeExecuteChange({ $$type: 'ExecuteChange', queryId: 0n, id: BigInt(id) }))
        .endCell();
    const outcome = await cli.sendAndReport(provider, {
        to: root,
        value: cli.valueOption(opts),
        minValue: w.GOVERNANCE_MIN_VALUE,
        body,
        what: `ExecuteChange #${id} to Root`,
        quiet: cli.quietOption(opts),
    });
    if (outcome.ok) {
        const closed = outcome.transaction && cli.changeClosedEvent(outcome.transaction);
        if (closed && !closed.executed) {
            ui.write(`Change #${id} dropped: it no longer applies to Root's state (${description})`);
            return { ...outcome, applied: false };
        }
        ui.write(`Change #${id} applied: ${description}`);
    } else if (outcome.exitCode === Number(w.ERR_CHANGE_NOT_DUE)) ui.write(`  it may execute from ${cli.isoTime(pending.executeAt)}`);
    else if (outcome.exitCode === Number(w.ERR_CHANGE_OUT_OF_ORDER)) {
        const first = Math.min(...(await provider.open(w.Root.fromAddress(root)).getPendingChanges()).keys());
        ui.write(`  changes execute in the order proposed: execute (or let expire) #${first} first`);
    }
    return { ...outcome, applied: outcome.ok };
}
