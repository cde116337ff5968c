// npx blueprint run unjailProvider --testnet --mnemonic -- --root ROOT --provider ADDRESS [--value TON]
// Governance: let a jailed provider take sessions again (it still needs a fresh attestation).
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const target = cli.parseAddress(await cli.requiredOption(provider, opts, 'provider', 'Provider address'), '--provider');
    const body = beginCell()
        .store(w.storeUnjailProvider({ $$type: 'UnjailProvider', queryId: 0n, provider: target }))
        .endCell();
    return cli.sendToRoot(provider, opts, body, 'UnjailProvider');
}
