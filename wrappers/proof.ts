// The attestation proof: how it is built, signed, chained with signatures and parsed. The cell
// layout itself is AttestationProof in contracts/messages.tact; this module is the only place
// off-chain code builds or reads one (tests, scripts, tee-verifier and the SDK import it).
import { Address, Cell, beginCell } from '@ton/core';
import { ed25519Sign, ed25519Verify } from './ed25519';
import {
    REVOCATION_PROOF_TAG,
    storeRevocationProof,
    ATTESTATION_PROOF_TAG,
    AttestationProof,
    MAINNET_GLOBAL_ID,
    TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
    TCB_CONFIGURATION_NEEDED,
    TCB_OUT_OF_DATE,
    TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
    TCB_SIMULATED,
    TCB_SW_HARDENING_NEEDED,
    TCB_UP_TO_DATE,
    loadAttestationProof,
    storeAttestationProof,
    storeVerifierSignature,
} from './Root';

/** TON mainnet's global id, -239 (config param 19; MAINNET_GLOBAL_ID in contracts/constants.tact). */
export const GLOBAL_ID_MAINNET = Number(MAINNET_GLOBAL_ID);
/** TON testnet's global id (config param 19). */
export const GLOBAL_ID_TESTNET = -3;

/**
 * The TCB status a proof carries (TCB_* in contracts/constants.tact) by Intel's name for it;
 * 'Simulated' is Cocoon's development mode (no TEE), which Root refuses on mainnet.
 */
export const TCB_STATUS_NAMES: Record<number, string> = {
    [Number(TCB_UP_TO_DATE)]: 'UpToDate',
    [Number(TCB_SW_HARDENING_NEEDED)]: 'SWHardeningNeeded',
    [Number(TCB_CONFIGURATION_NEEDED)]: 'ConfigurationNeeded',
    [Number(TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)]: 'ConfigurationAndSWHardeningNeeded',
    [Number(TCB_OUT_OF_DATE)]: 'OutOfDate',
    [Number(TCB_OUT_OF_DATE_CONFIGURATION_NEEDED)]: 'OutOfDateConfigurationNeeded',
    [Number(TCB_SIMULATED)]: 'Simulated',
};

/**
 * What an attestation proof says: on which network, under which Root, that this Provider's enclave keys run the
 * measured configuration serving this model, with this TCB status, from issuedAt to validUntil.
 */
export interface AttestationFields {
    globalId: number;
    root: Address;
    provider: Address;
    signingKey: Buffer; // enclave ed25519 public key, 32 bytes
    encryptionKey: Buffer; // enclave X25519 public key, 32 bytes
    measurement: Buffer; // 32 bytes: protocol/evidence.ts tdxMeasurement, docs/security.md
    modelHash: Buffer; // 32 bytes: the model the attested configuration serves (worker model-hash)
    tcbStatus: number; // TCB_* constant
    issuedAt: number; // unix seconds
    validUntil: number; // unix seconds
    nonce: bigint; // verifier-issued, < 2^64
}

/** One verifier's ed25519 signature of a proof cell's hash, with the verifier's public key. */
export interface ProofSignature {
    publicKey: Buffer; // verifier ed25519 public key, 32 bytes
    signature: Buffer; // 64 bytes over the proof cell's hash
}

/** A big-endian unsigned integer from its bytes (0n for an empty buffer). */
export function bufferToBigInt(buffer: Buffer): bigint {
    return buffer.length === 0 ? 0n : BigInt('0x' + buffer.toString('hex'));
}

/** A 256-bit unsigned integer as 32 big-endian bytes (keys, hashes); throws a RangeError when it does not fit. */
export function bigIntToBuffer32(value: bigint): Buffer {
    if (value < 0n || value >= 1n << 256n) throw new RangeError('value does not fit in 256 bits');
    return Buffer.from(value.toString(16).padStart(64, '0'), 'hex');
}

function require32Bytes(name: string, value: Buffer) {
    if (value.length !== 32) throw new RangeError(`${name} must be 32 bytes, got ${value.length}`);
}

/**
 * The attestation proof cell verifiers sign; throws a RangeError for a key, measurement or model hash that is not 32 bytes,
 * validUntil not after issuedAt, or a nonce beyond 64 bits.
 */
export function buildAttestationProof(fields: AttestationFields): Cell {
    require32Bytes('signingKey', fields.signingKey);
    require32Bytes('encryptionKey', fields.encryptionKey);
    require32Bytes('measurement', fields.measurement);
    require32Bytes('modelHash', fields.modelHash);
    if (fields.validUntil <= fields.issuedAt) throw new RangeError('validUntil must be after issuedAt');
    if (fields.nonce < 0n || fields.nonce >= 1n << 64n) throw new RangeError('nonce must fit in 64 bits');
    const proof: AttestationProof = {
        $$type: 'AttestationProof',
        tag: ATTESTATION_PROOF_TAG,
        globalId: BigInt(fields.globalId),
        root: fields.root,
        provider: fields.provider,
        tcbStatus: BigInt(fields.tcbStatus),
        issuedAt: BigInt(fields.issuedAt),
        validUntil: BigInt(fields.validUntil),
        nonce: fields.nonce,
        modelHash: bufferToBigInt(fields.modelHash),
        enclave: {
            $$type: 'EnclaveIdentity',
            signingKey: bufferToBigInt(fields.signingKey),
            encryptionKey: bufferToBigInt(fields.encryptionKey),
            measurement: bufferToBigInt(fields.measurement),
        },
    };
    return beginCell().store(storeAttestationProof(proof)).endCell();
}

/** An attestation proof cell's fields, with its tag (ATTESTATION_PROOF_TAG for an attestation proof). */
export function parseAttestationProof(proof: Cell): AttestationFields & { tag: bigint } {
    const p = loadAttestationProof(proof.beginParse());
    return {
        tag: p.tag,
        globalId: Number(p.globalId),
        root: p.root,
        provider: p.provider,
        signingKey: bigIntToBuffer32(p.enclave.signingKey),
        encryptionKey: bigIntToBuffer32(p.enclave.encryptionKey),
        measurement: bigIntToBuffer32(p.enclave.measurement),
        modelHash: bigIntToBuffer32(p.modelHash),
        tcbStatus: Number(p.tcbStatus),
        issuedAt: Number(p.issuedAt),
        validUntil: Number(p.validUntil),
        nonce: p.nonce,
    };
}

/**
 * A verifier signs a proof cell's representation hash (attestation or revocation alike), which
 * is what Root checks.
 */
export function signProof(proof: Cell, verifierSecretKey: Buffer): ProofSignature {
    return {
        publicKey: verifierSecretKey.subarray(32),
        signature: ed25519Sign(proof.hash(), verifierSecretKey),
    };
}

/** Whether `signature` is a valid signature of the proof cell's hash by its public key. */
export function verifyProofSignature(proof: Cell, signature: ProofSignature): boolean {
    return ed25519Verify(proof.hash(), signature.signature, signature.publicKey);
}

/**
 * Root wants the signatures as a chain of cells ordered by ascending public key; this sorts
 * them unless `keepOrder` is set (tests use it to show Root's ordering check). Duplicates are
 * kept, so that callers see the contract's own error.
 */
export function buildSignatureChain(signatures: ProofSignature[], opts: { keepOrder?: boolean } = {}): Cell {
    const ordered = opts.keepOrder ? signatures : [...signatures].sort((a, b) => Buffer.compare(a.publicKey, b.publicKey));
    let next: Cell | null = null;
    for (let i = ordered.length - 1; i >= 0; i--) {
        require32Bytes('publicKey', ordered[i].publicKey);
        if (ordered[i].signature.length !== 64) throw new RangeError('signature must be 64 bytes');
        next = beginCell()
            .store(
                storeVerifierSignature({
                    $$type: 'VerifierSignature',
                    publicKey: bufferToBigInt(ordered[i].publicKey),
                    signature: ordered[i].signature,
                    next,
                }),
            )
            .endCell();
    }
    if (next === null) throw new RangeError('at least one signature is required');
    return next;
}

/**
 * What a revocation proof says: verifiers revoke this Provider's enclave signing key and the attestation issued at
 * attestationIssuedAt (TCB revoked, measurement withdrawn, evidence found forged).
 */
export interface RevocationFields {
    globalId: number;
    root: Address;
    provider: Address;
    signingKey: Buffer; // the enclave ed25519 public key revoked, 32 bytes
    attestationIssuedAt: number; // the issued-at of the attestation revoked (the Provider's `attestation` getter)
    issuedAt: number;
    nonce: bigint;
}

/** The revocation proof cell verifiers sign; throws a RangeError when signingKey is not 32 bytes. */
export function buildRevocationProof(fields: RevocationFields): Cell {
    require32Bytes('signingKey', fields.signingKey);
    return beginCell()
        .store(
            storeRevocationProof({
                $$type: 'RevocationProof',
                tag: REVOCATION_PROOF_TAG,
                globalId: BigInt(fields.globalId),
                root: fields.root,
                provider: fields.provider,
                signingKey: bufferToBigInt(fields.signingKey),
                attestationIssuedAt: BigInt(fields.attestationIssuedAt),
                issuedAt: BigInt(fields.issuedAt),
                nonce: fields.nonce,
            }),
        )
        .endCell();
}
