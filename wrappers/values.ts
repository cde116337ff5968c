// The TON a client attaches to each message it sends. Every value covers the gas budgets the
// contracts reserve for the chain the message starts (the GAS_* constants of
// contracts/constants.tact, at the basechain gas price) plus forward fees and storage reserves;
// whatever a message does not spend comes back. tests/minimum-value.spec.ts checks each one
// against the GAS_* budgets and against the smallest value the contracts accept, measured.
import {
    GAS_PROVIDER_ATTESTATION_VERIFIED,
    GAS_PROVIDER_LOCK_COLLATERAL,
    GAS_PROVIDER_REGISTER,
    GAS_PROVIDER_REGISTRATION_CONFIRMED,
    GAS_PROVIDER_RELEASE_COLLATERAL,
    GAS_PROVIDER_STAKE,
    GAS_PROVIDER_SUBMIT_ATTESTATION,
    GAS_ROOT_DEPOSIT_TREASURY,
    GAS_ROOT_REGISTER_PROVIDER,
    GAS_ROOT_VERIFY_ATTESTATION,
    GAS_SESSION_ACCEPTED,
    GAS_SESSION_CLAIM,
    GAS_SESSION_FINALIZE,
    GAS_SESSION_OPEN,
} from './Root';

/** Basechain gas price (config param 21: 26,214,400 / 65,536 nanotons per gas unit). */
export const BASECHAIN_GAS_PRICE = 400n;
/** What `gas` gas units cost on the basechain, in nanotons. */
export const gasFee = (gas: bigint) => gas * BASECHAIN_GAS_PRICE;
/**
 * What the contracts' smallMessageFee() returns on the basechain (config param 25): the forward
 * fee of a one-cell message of 1023 bits, lump price plus bit and cell prices.
 */
export const SMALL_MESSAGE_FEE = 400_000n + (26_214_400n * 1023n + 2_621_440_000n + 65_535n) / 65_536n;

/** The gas budgets of each chain of handlers, as the contracts reserve them. */
export const CHAIN_GAS = {
    registration: GAS_PROVIDER_REGISTER + GAS_ROOT_REGISTER_PROVIDER + GAS_PROVIDER_REGISTRATION_CONFIRMED,
    stake: GAS_PROVIDER_STAKE,
    attestation: GAS_PROVIDER_SUBMIT_ATTESTATION + GAS_ROOT_VERIFY_ATTESTATION + GAS_PROVIDER_ATTESTATION_VERIFIED,
    sessionOpen: GAS_SESSION_OPEN + GAS_PROVIDER_LOCK_COLLATERAL + GAS_SESSION_ACCEPTED,
    claim: GAS_SESSION_CLAIM,
    // a timeout: Session -> Provider (release and slash) -> Root (treasury)
    finalize: GAS_SESSION_FINALIZE + GAS_PROVIDER_RELEASE_COLLATERAL + GAS_ROOT_DEPOSIT_TREASURY,
} as const;

/** A governance message to Root (or any owner operation): at most 0.008 TON is spent. */
export const GOVERNANCE_VALUE = 50_000_000n; // 0.05 TON
/** The least value a governance or owner message may carry: what the message and the chain it starts need. */
export const GOVERNANCE_MIN_VALUE = 20_000_000n; // 0.02 TON
/**
 * Registration: the chain's gas, the Provider's storage reserve, and forward fees; the rest of
 * the value becomes stake.
 */
export const REGISTRATION_OVERHEAD = 150_000_000n; // 0.15 TON
/** The least value a Stake (or a session top-up) may carry: below it a top-up stakes (almost) nothing. */
export const STAKE_MIN_VALUE = 10_000_000n; // 0.01 TON
/** Submitting an attestation: Provider -> Root -> Provider; Root's budget covers a 16-signature proof. */
export const ATTESTATION_VALUE = 100_000_000n; // 0.1 TON
/** The least value a SubmitAttestation may carry: what its chain (Provider -> Root -> Provider) needs. */
export const ATTESTATION_MIN_VALUE = 50_000_000n; // 0.05 TON
/**
 * Opening a session: the three handlers' gas, the Session's deploy (its code travels with the
 * message), the terms reply and the Session's storage reserve; the rest of the value is budget.
 */
export const SESSION_OPEN_OVERHEAD = 100_000_000n; // 0.1 TON
/** Closing a session: the close's gas; the rest comes back. */
export const CLOSE_VALUE = 50_000_000n; // 0.05 TON
/** Claiming usage: the claim's gas and payout message; the rest goes to the payee. */
export const CLAIM_VALUE = 15_000_000n; // 0.015 TON
/** Finalizing: the fee deposit, the collateral release (maybe a slash) and the refund. */
export const FINALIZE_VALUE = 200_000_000n; // 0.2 TON
/** The least value a FinalizeSession may carry: what its chain (settling, or timing out with a slash) needs. */
export const FINALIZE_MIN_VALUE = 100_000_000n; // 0.1 TON
/**
 * What a worker attaches when it finalizes a session its client left open: the least the Session
 * accepts and about a 10% margin (tests/minimum-value.spec.ts measures that least value and holds
 * this one within 15% above it). What the chain does not spend comes back to the worker.
 */
export const FINALIZE_ABANDONED_VALUE = 53_500_000n; // 0.0535 TON
