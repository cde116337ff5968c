// npx blueprint run setThreshold --testnet --mnemonic -- --root ROOT --threshold M [--value TON]
// Governance: how many verifier signatures a proof needs (1 <= M <= number of verifiers).
// Timelocked once a provider has registered: prints whether it applied at once or was proposed
// (its change id and from when anyone may execute it: executeChange).
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const text = await cli.requiredOption(provider, opts, 'threshold', 'Threshold M');
    if (!/^[0-9]+$/.test(text) || Number(text) < 1 || Number(text) > Number(w.MAX_VERIFIERS))
        throw new cli.InputError(`--threshold must be a whole number from 1 to ${w.MAX_VERIFIERS}`);
    const body = beginCell()
        .store(w.storeSetThreshold({ $$type: 'SetThreshold', queryId: 0n, threshold: BigInt(text) }))
        .endCell();
    return cli.sendGovernanceChange(provider, opts, body, 'SetThreshold', w.CHANGE_THRESHOLD);
}
