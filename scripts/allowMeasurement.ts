// npx blueprint run allowMeasurement --testnet --mnemonic -- --root ROOT --measurement HEX [--value TON]
// Governance: allow a TEE measurement hash (see tee-verifier/README.md for its definition).
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const measurement = cli.parseHex32(await cli.requiredOption(provider, opts, 'measurement', 'Measurement (hex)'), '--measurement');
    const body = beginCell()
        .store(w.storeAllowMeasurement({ $$type: 'AllowMeasurement', queryId: 0n, measurement }))
        .endCell();
    return cli.sendToRoot(provider, opts, body, 'AllowMeasurement');
}
