// npx blueprint run allowMeasurement --testnet --mnemonic -- --root ROOT --measurement HEX [--value TON]
// Governance: allow a TEE measurement hash (see tee-verifier/README.md for its definition).
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';

export async function run(provider: NetworkProvider, args: string[]) {
    const opts = w.parseOptions(args);
    const measurement = w.parseHex32(await w.requiredOption(provider, opts, 'measurement', 'Measurement (hex)'), '--measurement');
    const body = beginCell()
        .store(w.storeAllowMeasurement({ $$type: 'AllowMeasurement', queryId: 0n, measurement }))
        .endCell();
    return w.sendToRoot(provider, opts, body, 'AllowMeasurement');
}
