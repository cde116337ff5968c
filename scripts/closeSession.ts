// npx blueprint run closeSession --testnet --mnemonic -- --session SESSION
// Client: close the session; the provider has the close grace period for a final claim, then finalize.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell } from '@ton/core';
import * as w from '../wrappers';

export async function run(provider: NetworkProvider, args: string[]) {
    const opts = w.parseOptions(args);
    const session = w.parseAddress(await w.requiredOption(provider, opts, 'session', 'Session address'), '--session');
    if (!(await provider.isContractDeployed(session))) throw new w.InputError(`no Session is deployed at --session ${session.toString()}`);
    const body = beginCell()
        .store(w.storeCloseSession({ $$type: 'CloseSession', queryId: 0n }))
        .endCell();
    return w.sendAndReport(provider, {
        to: session,
        value: w.GOVERNANCE_VALUE,
        minValue: w.GOVERNANCE_MIN_VALUE,
        body,
        what: 'CloseSession',
    });
}
