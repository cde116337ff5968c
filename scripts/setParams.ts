// npx blueprint run setParams --testnet --mnemonic -- --root ROOT --params FILE [--value TON]
// Governance: replace the protocol parameters with those of a JSON file (validated first).
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import { readFileSync } from 'fs';
import * as w from '../wrappers';

export async function run(provider: NetworkProvider, args: string[]) {
    const opts = w.parseOptions(args);
    const file = await w.requiredOption(provider, opts, 'params', 'Parameters file (JSON)');
    let params;
    try {
        params = w.paramsFromJson(readFileSync(file, 'utf8'));
    } catch (e) {
        throw new w.InputError(`${file}: ${(e as Error).message}`);
    }
    const body = beginCell()
        .store(w.storeSetParams({ $$type: 'SetParams', queryId: 0n, params }))
        .endCell();
    return w.sendToRoot(provider, opts, body, 'SetParams');
}
