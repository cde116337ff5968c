// Every handler that an entry message budgets gas for must stay within that budget: otherwise a
// chain started with just enough value could die half-way. The figures come from the same
// measurement as `npm run bench`.
import { GAS_BUDGETS, Measurements, measureOperations } from '../bench/operations';

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
