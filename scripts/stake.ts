// npx blueprint run stake --testnet --mnemonic -- --provider PROVIDER --amount TON
// Adds the amount to a provider's stake (anyone may).
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';

export async function run(provider: NetworkProvider, args: string[]) {
    const opts = w.parseOptions(args);
    const target = w.parseAddress(await w.requiredOption(provider, opts, 'provider', 'Provider address'), '--provider');
    if (!(await provider.isContractDeployed(target)))
        throw new w.InputError(`no Provider is deployed at --provider ${target.toString()}: register first`);
    const amount = w.parseTon(await w.requiredOption(provider, opts, 'amount', 'Amount to stake (TON)'), '--amount');
    const body = beginCell()
        .store(w.storeStake({ $$type: 'Stake', queryId: 0n }))
        .endCell();
    return w.sendAndReport(provider, { to: target, value: amount, minValue: w.STAKE_MIN_VALUE, body, what: 'Stake' });
}
