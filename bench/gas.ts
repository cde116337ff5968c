// `npm run bench`: measures every operation (bench/operations.ts), prints a table with the change
// against the committed snapshot, and rewrites bench/gas-snapshot.json. Commit the snapshot with
// every contract change, and justify each increase in the commit message.
import { existsSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { GAS_BUDGETS, Measurements, measureOperations } from './operations';

const SNAPSHOT = join(__dirname, 'gas-snapshot.json');

function change(now: number, before?: number): string {
    if (before === undefined) return 'new';
    if (before === now) return '=';
    const pct = ((now - before) / before) * 100;
    return `${pct > 0 ? '+' : ''}${pct.toFixed(1)}%`;
}

async function main() {
    const previous: Measurements = existsSync(SNAPSHOT) ? JSON.parse(readFileSync(SNAPSHOT, 'utf8')) : {};
    process.stdout.write('measuring on @ton/sandbox…\n');
    const current = await measureOperations();
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
    const sorted = Object.fromEntries(
        Object.keys(current)
            .sort()
            .map((k) => [k, current[k]]),
    );
    writeFileSync(SNAPSHOT, JSON.stringify(sorted, null, 2) + '\n');
    const over = rows.filter((r) => typeof r.budget === 'number' && r.gas > r.budget);
    if (over.length > 0) {
        console.error(`over budget: ${over.map((r) => r.operation).join(', ')} (raise GAS_* in contracts/constants.tact)`);
        process.exitCode = 1;
    }
    console.log(`wrote ${SNAPSHOT}`);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
