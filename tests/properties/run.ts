// Runs random sequences of actions against a fresh copy of the world and checks the invariants
// after every step. fast-check prints the seed and path of a failing run and its shrunk sequence;
// replay it with FC_SEED=<seed> FC_PATH=<path> npx jest tests/properties/<file>. FC_RUNS overrides
// the number of runs, FC_STEPS the longest sequence, FC_STATS=1 prints how often each outcome occurred.
import fc from 'fast-check';
import { Action, Weights, actionsArbitrary } from './actions';
import { perform } from './perform';
import { checkStep } from './invariants';
import { Setup, World } from './world';

export interface RunOptions {
    runs: number;
    maxSteps: number; // sequences are 1 to maxSteps long (size 'max': long ones are common)
    openProviders?: number[]; // how often sessions are opened with providers 0..3
    examples?: Action[][]; // sequences run before the random ones, every time
}

export async function runActions(setup: Setup, actions: Action[]) {
    const w = await World.start(setup);
    for (const a of actions) await checkStep(w, a, await perform(w, a));
    return w;
}

export async function checkProperty(setup: () => Setup, weights: Weights, opts: RunOptions) {
    const examples = process.env.FC_SEED ? [] : (opts.examples ?? []).map((x) => [x] as [Action[]]);
    await fc.assert(
        fc.asyncProperty(actionsArbitrary(weights, Number(process.env.FC_STEPS ?? opts.maxSteps), opts.openProviders), async (actions) => {
            await runActions(setup(), actions);
        }),
        {
            numRuns: Number(process.env.FC_RUNS ?? opts.runs) + examples.length, // examples count as runs
            seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined,
            path: process.env.FC_PATH,
            examples,
        },
    );
}
