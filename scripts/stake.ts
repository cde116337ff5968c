// npx blueprint run stake --testnet --mnemonic -- --provider PROVIDER --amount TON
// Adds the amount to a provider's stake (anyone may).
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const target = await cli.deployedTarget(provider, opts, 'provider', 'Provider');
    const amount = cli.parseTon(await cli.requiredOption(provider, opts, 'amount', 'Amount to stake (TON)'), '--amount');
    const body = beginCell()
        .store(w.storeStake({ $$type: 'Stake', queryId: 0n }))
        .endCell();
    return cli.sendAndReport(provider, {
        to: target,
        value: amount,
        minValue: w.STAKE_MIN_VALUE,
        body,
        what: 'Stake',
        quiet: cli.quietOption(opts),
    });
}
