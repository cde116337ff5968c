// `npm run demo [-- --scenario served|timeout]`: Cocoon end to end on one machine. The embedded
// @ton/sandbox chain, Root configured by governance, two TEE verifiers and a worker on loopback,
// a GPU owner's staked Provider, and a client whose encrypted requests are served, metered,
// paid and settled (or, in the timeout scenario, never answered: the provider is slashed and the
// client refunded). Ends with every party's balance and the proof that TON was conserved.
import { Command, Option } from 'commander';
import { fromNano } from '@ton/core';
import { SCENARIOS, Scenario } from '../testkit/scenarios';
import { startLocalNetwork } from '../testkit/local-network';

async function main() {
    const opts = new Command()
        .name('npm run demo --')
        .addOption(
            new Option('--scenario <name>', 'served: a session paid and settled; timeout: a provider that stops answering')
                .choices(Object.keys(SCENARIOS))
                .default('served'),
        )
        .parse()
        .opts<{ scenario: Scenario }>();
    const started = Date.now();
    let step = 0;
    let stepStarted = Date.now();
    const reporter = {
        step(text: string) {
            step += 1;
            stepStarted = Date.now();
            console.log(`\n[${step}] ${text}`);
        },
        detail(text: string) {
            console.log(`    ${text} (${Date.now() - stepStarted} ms)`);
        },
    };
    console.log(`Cocoon demo, scenario "${opts.scenario}", on the embedded sandbox chain`);
    const net = await startLocalNetwork({ step: reporter.step });
    try {
        const treasuryBefore = await net.root.getTreasury();
        await SCENARIOS[opts.scenario](net, reporter);
        reporter.step('Balances');
        const rows = await net.ledger.rows();
        console.table(
            rows.map((r) => ({
                party: r.party,
                'before (TON)': fromNano(r.before),
                'after (TON)': fromNano(r.after),
                'change (TON)': fromNano(r.after - r.before),
            })),
        );
        const fees = net.ledger.fees();
        const imbalance = await net.ledger.imbalance();
        const untracked = net.ledger.untracked();
        console.log(
            `    Root's treasury (part of Root's balance): ${fromNano(treasuryBefore)} -> ${fromNano(await net.root.getTreasury())} TON`,
        );
        console.log(`    network fees ${fromNano(fees)} TON; sum of changes + fees = ${fromNano(imbalance)} TON`);
        if (untracked.length > 0) throw new Error(`transactions touched accounts outside the table: ${untracked.join(', ')}`);
        if (imbalance !== 0n) throw new Error('TON was not conserved');
        console.log(`\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s: every nanoton accounted for.`);
    } finally {
        await net.stop();
    }
}

main().catch((e) => {
    console.error(`\ndemo failed: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
});
