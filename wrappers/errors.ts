// Exit codes -> names, for people reading a failed transaction. The codes are the ERR_*
// constants of contracts/constants.tact (exported by the compiler), plus TVM's and Tact's own.
import * as generated from './Root';

const TVM_AND_TACT: Record<number, string> = {
    2: 'stack underflow',
    5: 'integer out of expected range',
    7: 'type check error',
    8: 'cell overflow',
    9: 'cell underflow (malformed message)',
    13: 'out of gas: attach more TON',
    32: 'action list is invalid',
    33: 'action list is too long',
    34: 'action is invalid or not supported',
    37: 'not enough TON to send the messages: attach more TON',
    128: 'null reference (Tact)',
    130: 'invalid incoming message: unknown opcode for this contract (Tact)',
    132: 'access denied (Tact)',
    136: 'invalid standard address (Tact)',
    138: 'not a basechain address: Cocoon works with workchain 0 addresses only (Tact)',
};

/** The name of each ERR_* exit code of the contracts (contracts/constants.tact), by code. */
export const CONTRACT_ERRORS: Record<number, string> = Object.fromEntries(
    Object.entries(generated)
        .filter(([name, value]) => name.startsWith('ERR_') && typeof value === 'bigint')
        .map(([name, value]) => [Number(value as bigint), name]),
);

/** An exit code's name: a contract's ERR_* constant, TVM's or Tact's own meaning, or else "exit code N". */
export function describeExitCode(code: number): string {
    return CONTRACT_ERRORS[code] ?? TVM_AND_TACT[code] ?? `exit code ${code}`;
}
