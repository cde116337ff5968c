// `npm run bench [-- --label "why"]`: measures every operation (bench/operations.ts) and prints a
// table with the change against the last entry of bench/gas-history.json. With --label, appends
// the figures as a new entry (refused when nothing changed). Append an entry with every contract
// change that moves gas or fees, and justify each increase in its label and commit message;
// tests/gas.spec.ts fails until the history matches the contracts.
import { execSync } from 'child_process';
import { Command } from 'commander';
import { GAS_BUDGETS, measureOperations } from './operations';
import { HISTORY_FILE, appendEntry, differences, lastEntry } from './history';

function change(now: number, before?: number): string {
    if (before === undefined) return 'new';
    if (before === now) return '=';
    const pct = ((now - before) / before) * 100;
    return `${pct > 0 ? '+' : ''}${pct.toFixed(1)}%`;
}

function headCommit(): string | undefined {
    try {
        return execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] })
            .toString()
            .trim();
    } catch {
        return undefined; // not a git checkout
    }
}

async function main() {
    const opts = new Command()
        .name('npm run bench --')
        .option('--label <text>', 'append the figures to the gas history under this label (what changed and why)')
        .parse()
        .opts<{ label?: string }>();
    const last = lastEntry();
    process.stdout.write(`measuring on @ton/sandbox, against "${last.label}" (${last.date})…\n`);
    const current = await measureOperations();
    const previous = last.operations;
    const rows = Object.entries(current).map(([name, m]) => ({
        operation: name,
        gas: m.gas,
        'Δ gas': change(m.gas, previous[name]?.gas),
        budget: GAS_BUDGETS[name] !== undefined ? Number(GAS_BUDGETS[name]) : '',
        'fees (TON)': (m.feesNano / 1e9).toFixed(6),
        'Δ fees': change(m.feesNano, previous[name]?.feesNano),
        messages: m.messages,
    }));
    console.table(rows);
    const over = rows.filter((r) => typeof r.budget === 'number' && r.gas > r.budget);
    if (over.length > 0) {
        console.error(`over budget: ${over.map((r) => r.operation).join(', ')} (raise GAS_* in contracts/constants.tact)`);
        process.exitCode = 1;
    }
    const changed = differences(previous, current);
    if (changed.length === 0) {
        console.log(`same figures as the last entry of ${HISTORY_FILE}`);
        if (opts.label) console.log('nothing to append');
        return;
    }
    console.log(`${changed.length} operation(s) differ from the last entry: ${changed.join(', ')}`);
    if (!opts.label) {
        console.log('record them with: npm run bench -- --label "what changed, and why any increase is worth it"');
        return;
    }
    appendEntry({ label: opts.label, commit: headCommit(), date: new Date().toISOString().slice(0, 10), operations: current });
    console.log(`appended "${opts.label}" to ${HISTORY_FILE}`);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
