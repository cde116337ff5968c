// The gas history (bench/gas-history.json), kept as tact-lang/jetton keeps its gas results: a
// list of labelled entries, oldest first, each with every operation's figures at one point of the
// contracts' history. `npm run bench -- --label "why"` appends one; tests/gas.spec.ts fails when
// what the contracts use now differs from the last entry, so the history cannot go stale.
import { readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import type { Measurement, Measurements } from './operations';

export const HISTORY_FILE = join(__dirname, 'gas-history.json');

export interface HistoryEntry {
    label: string; // what changed, and why any increase is worth it
    commit?: string; // the commit that recorded the entry (the one before the change, for new entries)
    date: string; // YYYY-MM-DD
    operations: Measurements;
}

export function readHistory(file = HISTORY_FILE): HistoryEntry[] {
    return (JSON.parse(readFileSync(file, 'utf8')) as { entries: HistoryEntry[] }).entries;
}

export function lastEntry(file = HISTORY_FILE): HistoryEntry {
    const entries = readHistory(file);
    if (entries.length === 0) throw new Error(`${file} has no entries`);
    return entries[entries.length - 1];
}

export function appendEntry(entry: HistoryEntry, file = HISTORY_FILE) {
    const entries = readHistory(file);
    entries.push({ ...entry, operations: sortedByName(entry.operations) });
    writeFileSync(file, JSON.stringify({ entries }, null, 4) + '\n'); // as prettier formats it (.prettierrc)
}

// The operations whose figures (gas, fees or messages) differ between two measurements, with
// the ones present in only one of them.
export function differences(before: Measurements, now: Measurements): string[] {
    const same = (a?: Measurement, b?: Measurement) =>
        a !== undefined && b !== undefined && a.gas === b.gas && a.feesNano === b.feesNano && a.messages === b.messages;
    const names = new Set([...Object.keys(before), ...Object.keys(now)]);
    return [...names].sort().filter((n) => !same(before[n], now[n]));
}

function sortedByName(m: Measurements): Measurements {
    return Object.fromEntries(
        Object.keys(m)
            .sort()
            .map((k) => [k, { gas: m[k].gas, feesNano: m[k].feesNano, messages: m[k].messages }]),
    );
}
