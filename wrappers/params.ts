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

// A deployment's parameters file: TON amounts as decimal strings ("100"), periods in seconds,
// fractions in basis points. Every field is required; errors name the field.
export function paramsFromJson(text: string): ProtocolParams {
    let data: Record<string, unknown>;
    try {
        data = JSON.parse(text);
    } catch (e) {
        throw new RangeError(`the parameters file is not JSON: ${(e as Error).message}`);
    }
    const ton = (k: string) => {
        const v = data[k];
        if (typeof v !== 'string' || !/^\d+(\.\d{1,9})?$/.test(v))
            throw new RangeError(`${k} must be an amount of TON as a string, like "100"`);
        return toNano(v);
    };
    const int = (k: string) => {
        const v = data[k];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new RangeError(`${k} must be a whole number`);
        return BigInt(v);
    };
    const params: ProtocolParams = {
        $$type: 'ProtocolParams',
        minProviderStake: ton('minProviderStake'),
        unbondingPeriod: int('unbondingPeriod'),
        attestationMaxAge: int('attestationMaxAge'),
        protocolFeeBps: int('protocolFeeBps'),
        collateralBps: int('collateralBps'),
        timeoutSlashBps: int('timeoutSlashBps'),
        revocationSlashBps: int('revocationSlashBps'),
        equivocationSlashBps: int('equivocationSlashBps'),
        reporterRewardBps: int('reporterRewardBps'),
        minSessionBudget: ton('minSessionBudget'),
        maxSessionDuration: int('maxSessionDuration'),
        closeGracePeriod: int('closeGracePeriod'),
    };
    const problems = paramsProblems(params);
    if (problems.length) throw new RangeError(problems.join('; '));
    return params;
}
