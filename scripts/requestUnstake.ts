// npx blueprint run requestUnstake --testnet --mnemonic -- --provider PROVIDER --amount TON
// Owner: move free stake into the unbonding queue; withdraw it after the unbonding period.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell, fromNano } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const target = await cli.deployedTarget(provider, opts, 'provider', 'Provider');
    const amount = cli.parseTon(await cli.requiredOption(provider, opts, 'amount', 'Amount to unstake (TON)'), '--amount');
    const free = await provider.open(w.Provider.fromAddress(target)).getFreeStake();
    if (amount > free)
        throw new cli.InputError(`only ${fromNano(free)} TON of stake is free (locked collateral and the minimum stake stay)`);
    const body = beginCell()
        .store(w.storeRequestUnstake({ $$type: 'RequestUnstake', queryId: 0n, amount }))
        .endCell();
    return cli.sendSmall(provider, opts, target, body, 'RequestUnstake');
}
