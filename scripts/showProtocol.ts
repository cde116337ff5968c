// npx blueprint run showProtocol --testnet -- --root ROOT
// Prints Root's state: owner, parameters, verifier set, allowlist, treasury, providers, and the
// governance changes waiting out their timelock (what each changes, from when anyone may execute
// it) with restricted_from, the time new attestations end at the latest while one of them waits.
import { NetworkProvider } from '@ton/blueprint';
import { fromNano } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const ui = provider.ui();
    const opts = cli.parseOptions(args);
    const address = await cli.deployedTarget(provider, opts, 'root', 'Root');
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
    ui.write(`    jail ${p.jailDuration} s, governance delay ${p.governanceDelay} s`);
    ui.write(`  verifiers (${set.count}, threshold ${set.threshold}, epoch ${set.epoch}):`);
    for (const key of set.keys.keys()) ui.write(`    ${hex(key)}`);
    const measurements = await root.getMeasurements();
    ui.write(`  allowed measurements (${measurements.size}):`);
    for (const m of measurements.keys()) ui.write(`    ${hex(m)}`);
    const changes = await root.getPendingChanges();
    const restrictedFrom = Number(await root.getRestrictedFrom());
    ui.write(`  pending governance changes (${changes.size}):`);
    for (const [id, c] of changes) {
        const restricting = cli.isRestrictingChange(c.change.kind) ? ' (restricting)' : '';
        ui.write(`    #${id} ${cli.describeChange(c.change, p)}${restricting}: executable from ${cli.isoTime(c.executeAt)}`);
    }
    ui.write(
        restrictedFrom
            ? `  restricted from ${cli.isoTime(restrictedFrom)}: new attestations end then at the latest, when a restricting change may execute`
            : '  restricted from: none (no restricting change waits)',
    );
    return {
        params: p,
        verifiers: set,
        measurements: [...measurements.keys()],
        pendingChanges: [...changes].map(([id, c]) => ({ id, executeAt: Number(c.executeAt), change: c.change })),
        restrictedFrom,
    };
}
