// npx blueprint run showSession --testnet -- --session SESSION
// Prints a session's state and terms.
import { NetworkProvider } from '@ton/blueprint';
import { fromNano } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const ui = provider.ui();
    const opts = cli.parseOptions(args);
    const address = await cli.sessionTarget(provider, opts);
    const s = provider.open(w.Session.fromAddress(address));
    const status = w.SESSION_STATUS_NAMES[Number(await s.getStatus())];
    const date = (t: bigint) => new Date(Number(t) * 1000).toISOString();
    ui.write(`Session ${address.toString()}: ${status}`);
    ui.write(`  client ${(await s.getClient()).toString()}, provider ${(await s.getProvider()).toString()}`);
    ui.write(
        `  budget ${fromNano(await s.getBudget())} TON, claimed ${fromNano(await s.getClaimed())} TON (receipt #${await s.getSeqno()})`,
    );
    const closedAt = await s.getClosedAt();
    ui.write(`  deadline ${date(await s.getDeadline())}${closedAt > 0n ? `, closed ${date(closedAt)}` : ''}`);
    const terms = await s.getTerms();
    const settlement = await s.getSettlement();
    if (terms && settlement) {
        ui.write(`  prices: ${w.formatPrices(terms.prices)}; fee ${terms.protocolFeeBps} bps, grace ${terms.closeGracePeriod} s`);
        ui.write(`  collateral ${fromNano(settlement.collateral)} TON; payments to ${terms.payee.toString()}`);
    }
    return { status };
}
