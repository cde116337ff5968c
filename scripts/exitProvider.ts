// npx blueprint run exitProvider --testnet --mnemonic -- --provider PROVIDER
// Owner\: stop taking sessions so that the whole unlocked stake can be unstaked.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';

export async function run(provider: NetworkProvider, args: string[]) {
    const opts = w.parseOptions(args);
    const target = w.parseAddress(await w.requiredOption(provider, opts, 'provider', 'Provider address'), '--provider');
    if (!(await provider.isContractDeployed(target)))
        throw new w.InputError(`no Provider is deployed at --provider ${target.toString()}: register first`);
    const body = beginCell()
        .store(w.storeExitProvider({ $$type: 'ExitProvider', queryId: 0n }))
        .endCell();
    return w.sendAndReport(provider, {
        to: target,
        value: w.GOVERNANCE_VALUE,
        minValue: w.GOVERNANCE_MIN_VALUE,
        body,
        what: 'ExitProvider',
    });
}
