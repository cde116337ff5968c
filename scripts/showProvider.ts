// npx blueprint run showProvider --testnet -- --provider PROVIDER   (or --root ROOT --owner OWNER)
// Prints a Provider's state: status, stake, unbonding, listing, attestation, statistics.
import { NetworkProvider } from '@ton/blueprint';
import { fromNano } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const ui = provider.ui();
    const opts = cli.parseOptions(args);
    const address = opts.get('provider')
        ? cli.parseAddress(opts.get('provider')!, '--provider')
        : (
              await w.providerForOwner(
                  cli.parseAddress(await cli.requiredOption(provider, opts, 'root', 'Root address'), '--root'),
                  cli.parseAddress(await cli.requiredOption(provider, opts, 'owner', 'Owner address'), '--owner'),
              )
          ).address;
    if (!(await provider.isContractDeployed(address))) throw new cli.InputError(`no Provider is deployed at ${address.toString()}`);
    const p = provider.open(w.Provider.fromAddress(address));
    const status = w.PROVIDER_STATUS_NAMES[Number(await p.getStatus())];
    const unbonding = await p.getUnbonding();
    const listing = await p.getListing();
    const a = await p.getAttestation();
    const stats = await p.getStats();
    ui.write(`Provider ${address.toString()}: ${status}, owner ${(await p.getOwner()).toString()}`);
    ui.write(
        `  stake ${fromNano(await p.getStake())} TON (${fromNano(await p.getLocked())} locked, ${fromNano(await p.getFreeStake())} free), unbonding ${fromNano(unbonding.total)} TON in ${unbonding.count} request(s)`,
    );
    for (const [, r] of unbonding.requests)
        ui.write(`    ${fromNano(r.amount)} TON released at ${new Date(Number(r.releaseAt) * 1000).toISOString()}`);
    if (listing) {
        ui.write(`  ${listing.gpuCount} x ${listing.gpuModel} (${listing.vramGb} GB), endpoint ${listing.endpoint}`);
        for (const [, m] of listing.models) ui.write(`    ${m.name}: ${w.formatPrices(m.prices)}`);
    }
    ui.write(
        a
            ? `  attested until ${new Date(Number(a.validUntil) * 1000).toISOString()} (measurement ${a.measurement.toString(16).padStart(64, '0')}, TCB ${a.tcbStatus})`
            : '  not attested',
    );
    ui.write(
        `  ${stats.sessionsServed} session(s) served, ${fromNano(stats.settled)} TON settled, ${fromNano(stats.slashed)} TON slashed in ${stats.slashCount} slash(es)`,
    );
    return { status, address };
}
