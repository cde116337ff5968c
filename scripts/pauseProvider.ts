// npx blueprint run pauseProvider --testnet --mnemonic -- --provider PROVIDER
// Owner\: take no new sessions.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';

export async function run(provider: NetworkProvider, args: string[]) {
    const opts = w.parseOptions(args);
    const target = w.parseAddress(await w.requiredOption(provider, opts, 'provider', 'Provider address'), '--provider');
    if (!(await provider.isContractDeployed(target)))
        throw new w.InputError(`no Provider is deployed at --provider ${target.toString()}: register first`);
    const body = beginCell()
        .store(w.storePauseProvider({ $$type: 'PauseProvider', queryId: 0n }))
        .endCell();
    return w.sendAndReport(provider, {
        to: target,
        value: w.GOVERNANCE_VALUE,
        minValue: w.GOVERNANCE_MIN_VALUE,
        body,
        what: 'PauseProvider',
    });
}
