// `npm run demo [-- --scenario served|timeout]`: Cocoon end to end on one machine. The embedded
// @ton/sandbox chain, Root configured by governance, two TEE verifiers and a worker on loopback,
// a GPU owner's staked Provider, and a client whose encrypted requests are served, metered,
// paid and settled (or, in the timeout scenario, never answered: the provider is slashed and the
// client refunded). Ends with every party's balance and the proof that TON was conserved.
import { Command, Option } from 'commander';
import { fromNano } from '@ton/core';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { SCENARIOS, Scenario } from '../testkit/scenarios';
import { startLocalNetwork } from '../testkit/local-network';
import { startProcessNetwork } from '../testkit/process-network';
import { balanceIn, runProcessScenario } from '../testkit/process-scenario';

async function main() {
    const opts = new Command()
        .name('npm run demo --')
        .addOption(
            new Option('--scenario <name>', 'served: a session paid and settled; timeout: a provider that stops answering')
                .choices(Object.keys(SCENARIOS))
                .default('served'),
        )
        .option(
            '--processes',
            'every component as its own process on the devnet (npm run devnet), as operators run them; a verifier and the worker are killed and restarted mid-session',
            false,
        )
        .parse()
        .opts<{ scenario: Scenario; processes: boolean }>();
    if (opts.processes) return processes();
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

// `--processes`: the devnet, two verifiers, the built-in backend, a worker and the gateway, each
// its own process started from its command line (testkit/process-network.ts), put through
// testkit/process-scenario.ts.
async function processes() {
    const started = Date.now();
    let step = 0;
    const say = (text: string) => console.log(`\n[${++step}] ${text} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    console.log('Cocoon demo: every component as its own process, talking HTTP, on the devnet');
    const dir = mkdtempSync(join(tmpdir(), 'cocoon-demo-processes-'));
    const net = await startProcessNetwork({ dir, backendDelayMs: 400, step: say });
    try {
        console.log(`    devnet API ${net.api}, gateway ${net.gatewayUrl}, worker ${net.workerUrl}`);
        const o = await runProcessScenario(net, say);
        const show = (a: { content: string; answer: string; statuses: number[] }) =>
            console.log(`    "${a.content}" -> ${a.statuses.join(' then ')}: ${a.answer.slice(0, 90)}`);
        say('What happened');
        show(o.before);
        o.during.forEach(show);
        show(o.after);
        console.log(
            `    the worker started ${o.workerStarts} times; the gateway used one session: ${o.sessionsAfter.map(String).join(', ')}`,
        );
        console.log(`    the same enclave key attested before and after the crash: ${o.attestedKey === o.attestedKeyAfter ? 'yes' : 'NO'}`);
        if (o.closing)
            console.log(
                `    claimed ${fromNano(o.closing.claimed)} TON of a ${fromNano(o.closing.budget)} TON budget; finalized: ${o.finalized}`,
            );
        const change = (a: Parameters<typeof balanceIn>[1]) => fromNano(balanceIn(o.ledgerAtEnd, a) - balanceIn(o.ledgerAtStart, a));
        console.log(`    GPU owner's wallet ${change(net.owner)} TON, gateway's wallet ${change(net.client)} TON`);
        const end = o.ledgerAtEnd;
        console.log(
            `    devnet: ${fromNano(end.supply)} TON minted = ${fromNano(end.balances)} in ${end.accounts.length} accounts + ${fromNano(end.fees)} fees; imbalance ${fromNano(end.imbalance)}`,
        );
        if (end.imbalance !== 0n) throw new Error('TON was not conserved');
        if (!o.finalized) throw new Error('the session was not finalized');
        console.log(`\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s: every nanoton accounted for.`);
    } finally {
        await net.stop();
        rmSync(dir, { recursive: true, force: true });
    }
}

main().catch((e) => {
    console.error(`\ndemo failed: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
});
