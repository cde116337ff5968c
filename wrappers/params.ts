// Protocol parameters: an example set (what the demo and the tests deploy with, and a starting
// point for a deployment's JSON file) and the off-chain mirror of Root's validParams(), so that
// tools refuse bad values before sending anything. Root checks again on-chain.
import { toNano } from '@ton/core';
import * as limits from './Root';
import { ProtocolParams } from './Root';

const DAY = 86_400n;

/** An example set of protocol parameters: what the demo and the tests deploy with, and a starting point for a deployment. */
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
    jailDuration: 7n * DAY,
    governanceDelay: 8n * DAY, // at least the unbonding period and the attestation max age
};

/** Each parameter's allowed range: the hard caps of contracts/constants.tact. */
export const PARAM_RANGES: Record<Exclude<keyof ProtocolParams, '$$type'>, { min: bigint; max?: bigint; unit: string }> = {
    minProviderStake: { min: 1n, unit: 'nanotons' },
    unbondingPeriod: { min: 1n, max: limits.MAX_UNBONDING_PERIOD, unit: 'seconds' },
    attestationMaxAge: { min: 1n, max: limits.MAX_ATTESTATION_MAX_AGE, unit: 'seconds' },
    protocolFeeBps: { min: 0n, max: limits.MAX_PROTOCOL_FEE_BPS, unit: 'basis points' },
    collateralBps: { min: 0n, max: limits.MAX_COLLATERAL_BPS, unit: 'basis points' },
    timeoutSlashBps: { min: 0n, max: limits.MAX_TIMEOUT_SLASH_BPS, unit: 'basis points' },
    revocationSlashBps: { min: 0n, max: limits.MAX_REVOCATION_SLASH_BPS, unit: 'basis points' },
    equivocationSlashBps: { min: 0n, max: limits.MAX_EQUIVOCATION_SLASH_BPS, unit: 'basis points' },
    reporterRewardBps: { min: 0n, max: limits.MAX_REPORTER_REWARD_BPS, unit: 'basis points' },
    minSessionBudget: { min: 1n, unit: 'nanotons' },
    maxSessionDuration: { min: 1n, max: limits.MAX_SESSION_DURATION, unit: 'seconds' },
    closeGracePeriod: { min: limits.MIN_CLOSE_GRACE_PERIOD, max: limits.MAX_CLOSE_GRACE_PERIOD, unit: 'seconds' },
    jailDuration: { min: 1n, max: limits.MAX_JAIL_DURATION, unit: 'seconds' },
    governanceDelay: { min: limits.MIN_GOVERNANCE_DELAY, max: limits.MAX_GOVERNANCE_DELAY, unit: 'seconds' },
};

/** Every problem with `p`, in words; empty when Root would accept it (validParams in root.tact). */
export function paramsProblems(p: ProtocolParams): string[] {
    const problems: string[] = [];
    for (const [name, range] of Object.entries(PARAM_RANGES)) {
        const v = p[name as keyof typeof PARAM_RANGES];
        if (v < range.min || (range.max !== undefined && v > range.max)) {
            const bounds = range.max === undefined ? `at least ${range.min}` : `between ${range.min} and ${range.max}`;
            problems.push(`${name} must be ${bounds} ${range.unit}, got ${v}`);
        }
    }
    if (p.governanceDelay < p.unbondingPeriod || p.governanceDelay < p.attestationMaxAge) {
        problems.push(
            'governanceDelay must be at least unbondingPeriod and attestationMaxAge, so that anyone can leave before a change applies',
        );
    }
    return problems;
}

/**
 * A deployment's parameters file: TON amounts as decimal strings ("100"), periods in seconds,
 * fractions in basis points. Every field is required; errors name the field.
 */
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
        jailDuration: int('jailDuration'),
        governanceDelay: int('governanceDelay'),
    };
    const problems = paramsProblems(params);
    if (problems.length) throw new RangeError(problems.join('; '));
    return params;
}
