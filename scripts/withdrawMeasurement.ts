// npx blueprint run withdrawMeasurement --testnet --mnemonic -- --root ROOT --measurement HEX [--value TON]
// Governance: withdraw a measurement; once the change applies, proofs for it are refused.
// Timelocked once a provider has registered: prints whether it applied at once or was proposed
// (its change id and from when anyone may execute it: executeChange).
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const measurement = cli.parseHex32(await cli.requiredOption(provider, opts, 'measurement', 'Measurement (hex)'), '--measurement');
    const body = beginCell()
        .store(w.storeWithdrawMeasurement({ $$type: 'WithdrawMeasurement', queryId: 0n, measurement }))
        .endCell();
    return cli.sendGovernanceChange(provider, opts, body, 'WithdrawMeasurement', w.CHANGE_WITHDRAW_MEASUREMENT);
}
