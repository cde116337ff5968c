// npx blueprint run showProtocol --testnet -- --root ROOT
// Prints Root's state: owner, parameters, verifier set, allowlist, treasury, providers.
import { NetworkProvider } from '@ton/blueprint';
import { fromNano } from '@ton/core';
import * as w from '../wrappers';

export async function run(provider: NetworkProvider, args: string[]) {
    const ui = provider.ui();
    const opts = w.parseOptions(args);
    const address = await w.deployedTarget(provider, opts, 'root', 'Root');
    const root = provider.open(w.Root.fromAddress(address));
    const p = await root.getParams();
    const set = await root.getVerifierSet();
    const pending = await root.getPendingOwner();
    const hex = (k: bigint) => k.toString(16).padStart(64, '0');
    ui.write(`Root ${address.toString()} (global id ${await root.getGlobalId()})`);
    ui.write(`  owner ${(await root.getOwner()).toString()}${pending ? `, proposed owner ${pending.toString()}` : ''}`);
    ui.write(`  treasury ${fromNano(await root.getTreasury())} TON, ${await root.getProviderCount()} provider(s) registered`);
    ui.write(
        `  parameters: min stake ${fromNano(p.minProviderStake)} TON, unbonding ${p.unbondingPeriod} s, attestation max age ${p.attestationMaxAge} s,`,
    );
    ui.write(
        `    fee ${p.protocolFeeBps} bps, collateral ${p.collateralBps} bps, slashes ${p.timeoutSlashBps}/${p.revocationSlashBps}/${p.equivocationSlashBps} bps (timeout/revocation/equivocation), reporter ${p.reporterRewardBps} bps,`,
    );
    ui.write(`    sessions ${fromNano(p.minSessionBudget)} TON minimum, ${p.maxSessionDuration} s maximum, ${p.closeGracePeriod} s grace`);
    ui.write(`  verifiers (${set.count}, threshold ${set.threshold}, epoch ${set.epoch}):`);
    for (const key of set.keys.keys()) ui.write(`    ${hex(key)}`);
    const measurements = await root.getMeasurements();
    ui.write(`  allowed measurements (${measurements.size}):`);
    for (const m of measurements.keys()) ui.write(`    ${hex(m)}`);
    return { params: p, verifiers: set, measurements: [...measurements.keys()] };
}
