// npx blueprint run removeVerifier --testnet --mnemonic -- --root ROOT --key HEX [--value TON]
// Governance: remove a verifier key (lower the threshold first if needed).
// Timelocked once a provider has registered: prints whether it applied at once or was proposed
// (its change id and from when anyone may execute it: executeChange).
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const publicKey = cli.parseHex32(await cli.requiredOption(provider, opts, 'key', 'Verifier public key (hex)'), '--key');
    const body = beginCell()
        .store(w.storeRemoveVerifier({ $$type: 'RemoveVerifier', queryId: 0n, publicKey }))
        .endCell();
    return cli.sendGovernanceChange(provider, opts, body, 'RemoveVerifier', w.CHANGE_REMOVE_VERIFIER);
}
