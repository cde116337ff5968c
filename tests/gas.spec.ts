// Gas, measured the way `npm run bench` measures it. Every handler that an entry message budgets
// gas for must stay within that budget: otherwise a chain started with just enough value could
// die half-way. And the figures must be those of the last entry of bench/gas-history.json, so the
// history cannot go stale: a change that moves gas or fees appends an entry
// (`npm run bench -- --label "why"`).
import { GAS_BUDGETS, Measurements, measureOperations } from '../bench/operations';
import { differences, lastEntry } from '../bench/history';

let measured: Measurements;

beforeAll(async () => {
    measured = await measureOperations();
});

describe('gas budgets (contracts/constants.tact)', () => {
    it.each(Object.entries(GAS_BUDGETS))('%s stays within its budget', (name, budget) => {
        expect(measured[name]).toBeDefined();
        expect(BigInt(measured[name].gas)).toBeLessThanOrEqual(budget);
    });
});

describe('gas history (bench/gas-history.json)', () => {
    it('the last entry holds the figures of the contracts as built', () => {
        const last = lastEntry();
        const changed = differences(last.operations, measured);
        const detail = changed.map((n) => `${n}: recorded ${JSON.stringify(last.operations[n])}, now ${JSON.stringify(measured[n])}`);
        expect(detail).toEqual([]);
    });
});
