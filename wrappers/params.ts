// Protocol parameters: an example set (what the demo and the tests deploy with, and a starting
// point for a deployment's JSON file) and the off-chain mirror of Root's validParams(), so that
// tools refuse bad values before sending anything. Root checks again on-chain.
import { toNano } from '@ton/core';
import { BPS_DENOMINATOR, ProtocolParams } from './Root';

const DAY = 86_400n;

export const EXAMPLE_PARAMS: ProtocolParams = {
    $$type: 'ProtocolParams',
    minProviderStake: toNano('100'),
    unbondingPeriod: 7n * DAY,
    attestationMaxAge: DAY,
    protocolFeeBps: 250n, // 2.5%
    collateralBps: 2000n, // 20% of a session's budget
    timeoutSlashBps: 10000n,
    revocationSlashBps: 1000n,
    equivocationSlashBps: 2000n,
    reporterRewardBps: 1000n,
    minSessionBudget: toNano('1'),
    maxSessionDuration: 30n * DAY,
    closeGracePeriod: 3600n,
};

// Every problem with `p`, in words; empty when Root would accept it.
export function paramsProblems(p: ProtocolParams): string[] {
    const problems: string[] = [];
    const positive: (keyof ProtocolParams)[] = [
        'minProviderStake',
        'unbondingPeriod',
        'attestationMaxAge',
        'minSessionBudget',
        'maxSessionDuration',
        'closeGracePeriod',
    ];
    for (const k of positive) if ((p[k] as bigint) <= 0n) problems.push(`${k} must be above zero`);
    const fractions: (keyof ProtocolParams)[] = [
        'protocolFeeBps',
        'collateralBps',
        'timeoutSlashBps',
        'revocationSlashBps',
        'equivocationSlashBps',
        'reporterRewardBps',
    ];
    for (const k of fractions) {
        const v = p[k] as bigint;
        if (v < 0n || v > BPS_DENOMINATOR) problems.push(`${k} must be between 0 and ${BPS_DENOMINATOR} (basis points), got ${v}`);
    }
    return problems;
}
