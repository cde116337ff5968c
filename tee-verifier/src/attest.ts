// The verifier's decision: does this evidence show the allowed code, in a genuine TEE, holding
// these enclave keys, for this provider, now? Only then is a proof signed (and co-signed by peer
// verifiers up to the threshold) and queued for submission.
import { Address, Cell } from '@ton/core';
import { KeyPair } from '@ton/crypto';
import { randomBytes } from 'crypto';
import { sha256 } from '@noble/hashes/sha256';
import { Collateral } from '@phala/dcap-qvl';
import {
    AttestationFields,
    ProofSignature,
    TCB_SIMULATED,
    TCB_STATUS_NAMES,
    buildAttestationProof,
    parseAttestationProof,
    signProof,
    verifyProofSignature,
} from '../../wrappers';
import { TcbPolicy, QuoteRejected, verifyQuote } from './quote';
import { GpuEvidenceRejected, GpuRejectionCode, GpuTrust, gpuSetDigest, verifyGpuEvidence } from './nvidia';
import { PeerAuth, authenticate, signTicket, ticketSignatureValid } from './peer-auth';
import {
    AttestationRequest,
    Evidence,
    GpuEvidence,
    NO_GPU_EVIDENCE,
    expectedGpuNonce,
    expectedReportData,
    tdxMeasurement,
} from '../../protocol/evidence';
import { CosignRequest } from '../../protocol/verifier-api';
import { VerifierStore } from './store';

// Development mode: evidence of a TEE that does not exist. Its measurement is
// SHA-256("cocoon-simulated-tee-v2" || GPU evidence digest || model hash): no TD registers, so a
// production allowlist never contains it, and the proof carries TCB status TCB_SIMULATED (which
// Root refuses on mainnet). NO_GPU_EVIDENCE stands for a machine without a confidential GPU.
export function simulatedMeasurement(gpuDigest: Buffer, modelHash: Buffer): Buffer {
    return Buffer.from(sha256(Buffer.concat([Buffer.from('cocoon-simulated-tee-v2'), gpuDigest, modelHash])));
}

// Intel's TCB status names and the code a proof carries for each (wrappers' TCB_STATUS_NAMES,
// from contracts/constants.tact); 'Simulated' is not Intel's and no quote can claim it.
export const TCB_CODES: Record<string, number> = Object.fromEntries(
    Object.entries(TCB_STATUS_NAMES)
        .filter(([code]) => Number(code) !== Number(TCB_SIMULATED))
        .map(([code, name]) => [name, Number(code)]),
);

// The code of an accepted status. A status with no code (a name Intel adds later, say) is
// refused: falling back to a default would record something the verifier never checked.
export function tcbCode(status: string): number {
    const code = TCB_CODES[status];
    if (code === undefined) throw new QuoteRejected('tcb-rejected', `TCB status "${status}" has no code in a Cocoon proof`);
    return code;
}

export type RefusalCode =
    | QuoteRejected['code']
    | 'bad-nonce'
    | 'report-data-mismatch'
    | 'measurement-not-allowed'
    | 'simulated-evidence-refused'
    | 'proof-mismatch'
    | 'peer-not-authorized'
    | 'gpu-evidence-required'
    | 'gpu-repeated'
    | `gpu-${GpuRejectionCode}`
    | 'peers-unavailable'
    | 'chain-unavailable';

export class AttestationRefused extends Error {
    constructor(
        readonly code: RefusalCode,
        message: string,
    ) {
        super(message);
        this.name = 'AttestationRefused';
    }
}

export interface AllowlistReader {
    isAllowed(measurement: Buffer): Promise<boolean>;
}

export interface CollateralSource {
    collateralFor(quote: Buffer): Promise<Collateral>;
}

// Root's verifier set (a getter): who may ask for co-signatures and issue the nonces they cover.
export interface VerifierSetReader {
    isVerifier(publicKey: Buffer): Promise<boolean>;
}

// Another verifier that co-signs proofs (POST /v1/cosign). `authenticate` signs the exact bytes
// sent with the asking verifier's key.
export interface Peer {
    name: string;
    cosign(request: CosignRequest, authenticate: (body: Buffer) => PeerAuth): Promise<ProofSignature>;
}

// Whether a worker must send GPU evidence, and what verifies it. Without this option GPU evidence
// is required except in development mode.
export interface GpuPolicy {
    required: boolean;
    trust?: GpuTrust; // NVIDIA's roots, the RIMs, the revocation policy
}

// How far apart two verifiers' clocks may be (request timestamps, nonce tickets, proof times).
export const PEER_CLOCK_SKEW_SECONDS = 300;

export interface AttestorOptions {
    store: VerifierStore;
    key: KeyPair;
    root: Address;
    globalId: number;
    allowlist: AllowlistReader;
    collateral: CollateralSource;
    policy: TcbPolicy;
    validitySeconds: number; // how long a proof is valid; at most Root's attestationMaxAge
    nonceTtlSeconds: number;
    devMode: boolean; // accept simulated evidence (never in production)
    now: () => number; // unix seconds
    peers: Peer[];
    threshold: number; // signatures a proof needs (own included)
    // Who may ask this verifier to co-sign. Without it only a development verifier co-signs, for
    // any peer that signs its request (the demo's sandbox network); a production one refuses all.
    verifierSet?: VerifierSetReader;
    gpu?: GpuPolicy;
}

// What a piece of evidence shows: the measurement of the code and GPUs, and the platform's TCB
// status as a proof carries it.
export interface Verdict {
    measurement: Buffer;
    tcbStatus: number;
}

// What judging evidence needs: the verifier's policies, without its keys, store or peers. A
// client that distrusts the verifier set judges a worker's evidence with the same code
// (sdk verifyProviderEvidence).
export type EvidenceJudgeOptions = Pick<AttestorOptions, 'collateral' | 'policy' | 'devMode' | 'now' | 'gpu'>;

// The TD and its report_data first, then the GPUs (their nonce derives from the same binding),
// then the measurement that includes them. Throws AttestationRefused or QuoteRejected.
export async function judgeEvidence(req: AttestationRequest, o: EvidenceJudgeOptions): Promise<Verdict> {
    const { measurement, tcbStatus } = await judgeBoundEvidence(
        req.evidence,
        { reportData: expectedReportData(req), gpuNonce: expectedGpuNonce(req), modelHash: req.modelHash },
        o,
        reportDataMismatch,
    );
    return { measurement, tcbStatus };
}

// Evidence judged against what it must bind (an attestation's or a sealing request's report_data
// and GPU nonce): the measurement with the GPUs, and the code's alone (the TD's registers, or the
// simulated TD, and the model) that sealing shares derive from.
export async function judgeBoundEvidence(
    evidence: Evidence,
    bound: { reportData: Buffer; gpuNonce: Buffer; modelHash: Buffer },
    o: EvidenceJudgeOptions,
    mismatch: () => AttestationRefused,
): Promise<Verdict & { codeMeasurement: Buffer }> {
    const gpuDigest = () => verifyGpu(bound.gpuNonce, evidence.gpu ?? [], o);
    if (evidence.kind === 'simulated') {
        if (!o.devMode) {
            throw new AttestationRefused(
                'simulated-evidence-refused',
                'simulated TEE evidence is accepted only by a verifier started in development mode',
            );
        }
        if (!evidence.reportData.equals(bound.reportData)) throw mismatch();
        return {
            measurement: simulatedMeasurement(await gpuDigest(), bound.modelHash),
            codeMeasurement: simulatedMeasurement(NO_GPU_EVIDENCE, bound.modelHash),
            tcbStatus: Number(TCB_SIMULATED),
        };
    }
    const collateral = await o.collateral.collateralFor(evidence.quote);
    const q = await verifyQuote(evidence.quote, collateral, o.now(), o.policy);
    if (q.teeType !== 'TDX') throw new QuoteRejected('tcb-rejected', 'only Intel TDX quotes attest a Cocoon worker');
    if (!q.reportData.equals(bound.reportData)) throw mismatch();
    const { mrTd, rtMr0, rtMr1, rtMr2, rtMr3 } = q.tdx!;
    const registers = { mrTd, rtMr0, rtMr1, rtMr2, rtMr3 };
    return {
        measurement: tdxMeasurement(registers, await gpuDigest(), bound.modelHash),
        codeMeasurement: tdxMeasurement(registers, NO_GPU_EVIDENCE, bound.modelHash),
        tcbStatus: tcbCode(q.tcbStatus),
    };
}

// Each GPU's evidence verified against the nonce derived from the request; the digest the
// measurement includes (NO_GPU_EVIDENCE when there is none and the policy allows that).
async function verifyGpu(nonce: Buffer, gpus: GpuEvidence[], o: EvidenceJudgeOptions): Promise<Buffer> {
    const required = o.gpu?.required ?? !o.devMode;
    if (gpus.length === 0) {
        if (!required) return NO_GPU_EVIDENCE;
        throw new AttestationRefused(
            'gpu-evidence-required',
            'this verifier requires NVIDIA GPU evidence (evidence.gpu) with the TDX quote',
        );
    }
    const trust = o.gpu?.trust;
    if (!trust)
        throw new AttestationRefused('gpu-evidence-required', 'this verifier has no RIMs configured and cannot verify GPU evidence');
    const at = new Date(o.now() * 1000);
    const digests: Buffer[] = [];
    const devices = new Set<string>();
    for (const [i, gpu] of gpus.entries()) {
        let verified;
        try {
            verified = await verifyGpuEvidence(gpu, nonce, trust, at);
        } catch (e) {
            if (e instanceof GpuEvidenceRejected) throw new AttestationRefused(`gpu-${e.code}`, `GPU ${i}: ${e.message}`);
            throw e;
        }
        // One GPU listed twice would attest as the machine of two (its digest does not name the device).
        const device = verified.deviceKey.toString('hex');
        if (devices.has(device))
            throw new AttestationRefused('gpu-repeated', `GPU ${i}: the same device as an earlier one (same attestation key)`);
        devices.add(device);
        digests.push(verified.digest);
    }
    return gpuSetDigest(digests);
}

// Refuses a measurement Root does not allowlist (or an allowlist that cannot be read).
export async function requireAllowed(allowlist: AllowlistReader, measurement: Buffer): Promise<void> {
    let allowed: boolean;
    try {
        allowed = await allowlist.isAllowed(measurement);
    } catch (e) {
        throw new AttestationRefused('chain-unavailable', `cannot read Root's measurement allowlist: ${(e as Error).message}`);
    }
    if (!allowed) {
        throw new AttestationRefused(
            'measurement-not-allowed',
            `measurement ${measurement.toString('hex')} is not on Root's allowlist: governance must send AllowMeasurement for it, or the worker runs an image nobody approved`,
        );
    }
}

export class Attestor {
    constructor(readonly o: AttestorOptions) {}

    get publicKey(): Buffer {
        return this.o.key.publicKey;
    }

    issueNonce(provider: Address): bigint {
        const now = this.o.now();
        if (now >= this.nextPruneAt) {
            this.o.store.prune(now, { nonceTtl: this.o.nonceTtlSeconds, auditDays: 30, auditRows: 100_000 });
            this.nextPruneAt = now + 60;
        }
        const nonce = randomBytes(8).readBigUInt64BE();
        this.o.store.issueNonce(nonce.toString(), provider.toRawString(), now);
        return nonce;
    }

    private nextPruneAt = 0;

    // Verifies the evidence, signs a proof, gathers co-signatures and queues it. The nonce is
    // claimed first, atomically: a parallel request with the same nonce is refused before it
    // verifies anything or asks any peer. Every decision, accepted or not, goes to the audit log.
    async attest(req: AttestationRequest): Promise<{ id: number; proof: Cell; signatures: ProofSignature[] }> {
        const now = this.o.now();
        const provider = req.provider.toRawString();
        const nonce = req.nonce.toString();
        const problem = this.o.store.claimNonce(nonce, provider, now, this.o.nonceTtlSeconds);
        if (problem) {
            this.audit(req, now, false, `bad-nonce: ${problem}`);
            throw new AttestationRefused('bad-nonce', problem);
        }
        let verdict: Verdict | undefined;
        try {
            verdict = await this.evaluate(req);
            const proof = buildAttestationProof(this.fields(req, verdict, now));
            const issuedAt = this.o.store.issuedAt(nonce)!;
            const ticket = signTicket({ ...this.ticketScope(req), issuedAt, expiresAt: issuedAt + this.o.nonceTtlSeconds }, this.o.key);
            const signatures = [
                signProof(proof, this.o.key.secretKey),
                ...(await this.gatherCosignatures({ request: req, proof, ticket })),
            ];
            const id = this.o.store.saveProof(
                {
                    provider,
                    nonce,
                    proofBoc: proof.toBoc().toString('base64'),
                    signatures: signatures.map((s) => ({ publicKey: s.publicKey.toString('hex'), signature: s.signature.toString('hex') })),
                    issuedAt: now,
                    validUntil: now + this.o.validitySeconds,
                    nextAttemptAt: now,
                },
                now,
            );
            this.audit(req, now, true, 'accepted', verdict);
            return { id, proof, signatures };
        } catch (e) {
            this.o.store.releaseNonce(nonce);
            const refusal = asRefusal(e);
            this.audit(req, now, false, refusal ? `${refusal.code}: ${refusal.message}` : `error: ${(e as Error).message}`, verdict);
            throw refusal ?? e;
        }
    }

    // A peer's proof: the asking peer must be a current verifier, the nonce issued by it (its
    // signed ticket), unexpired and not co-signed before by this verifier. Then re-verify the same
    // evidence, check the proof says exactly what this verifier would sign (its own clock and
    // validity limit aside), and return only the signature.
    async cosign(c: CosignRequest, asker: Buffer): Promise<ProofSignature> {
        const now = this.o.now();
        const { request: req, proof, ticket } = c;
        await this.requireCurrentVerifier(asker);
        if (!ticket.issuer.equals(asker))
            throw new AttestationRefused('bad-nonce', 'the nonce was issued by another verifier than the one asking');
        if (!ticketSignatureValid(this.ticketScope(req), ticket)) {
            throw new AttestationRefused('bad-nonce', "the nonce ticket's signature does not verify for this Root, provider and nonce");
        }
        if (ticket.issuedAt > now + PEER_CLOCK_SKEW_SECONDS || ticket.expiresAt - ticket.issuedAt > this.o.nonceTtlSeconds) {
            throw new AttestationRefused(
                'bad-nonce',
                `the nonce ticket's window is not one this verifier issues (at most ${this.o.nonceTtlSeconds} s from now)`,
            );
        }
        if (now > ticket.expiresAt) throw new AttestationRefused('bad-nonce', `nonce expired at ${ticket.expiresAt}`);
        const issuer = asker.toString('hex');
        const nonce = req.nonce.toString();
        if (!this.o.store.claimCosign(issuer, nonce, ticket.expiresAt, now)) {
            throw new AttestationRefused('bad-nonce', 'this verifier already co-signed for this nonce, or is doing so now');
        }
        let signed = false;
        try {
            const verdict = await this.evaluate(req);
            const p = parseAttestationProof(proof);
            const expected = this.fields(req, verdict, p.issuedAt);
            // The whole cell is rebuilt from what the evidence shows, with only the asker's times
            // taken over (checked below): any field this verifier did not derive, the model hash
            // included, makes another cell (outside review of the model binding, H2).
            const rebuilt = buildAttestationProof({ ...expected, issuedAt: p.issuedAt, validUntil: p.validUntil });
            const same =
                rebuilt.hash().equals(proof.hash()) &&
                p.nonce === req.nonce &&
                Math.abs(p.issuedAt - now) <= PEER_CLOCK_SKEW_SECONDS &&
                p.validUntil > p.issuedAt &&
                p.validUntil - p.issuedAt <= this.o.validitySeconds;
            if (!same)
                throw new AttestationRefused(
                    'proof-mismatch',
                    'the proof does not state what the evidence shows, or its validity is longer than this verifier allows',
                );
            const signature = signProof(proof, this.o.key.secretKey);
            signed = true;
            return signature;
        } catch (e) {
            throw asRefusal(e) ?? e;
        } finally {
            this.o.store.finishCosign(issuer, nonce, signed);
        }
    }

    private async requireCurrentVerifier(publicKey: Buffer) {
        if (!this.o.verifierSet) {
            if (this.o.devMode) return; // development only: see AttestorOptions.verifierSet
            throw new AttestationRefused('peer-not-authorized', 'this verifier reads no verifier set from Root, so it co-signs for nobody');
        }
        let current: boolean;
        try {
            current = await this.o.verifierSet.isVerifier(publicKey);
        } catch (e) {
            throw new AttestationRefused('chain-unavailable', `cannot read Root's verifier set: ${(e as Error).message}`);
        }
        if (!current) {
            throw new AttestationRefused('peer-not-authorized', `${publicKey.toString('hex')} is not in Root's current verifier set`);
        }
    }

    private ticketScope(req: AttestationRequest) {
        return { globalId: this.o.globalId, root: this.o.root, provider: req.provider, nonce: req.nonce };
    }

    private fields(req: AttestationRequest, v: Verdict, issuedAt: number): AttestationFields {
        return {
            globalId: this.o.globalId,
            root: this.o.root,
            provider: req.provider,
            signingKey: req.signingKey,
            encryptionKey: req.encryptionKey,
            measurement: v.measurement,
            modelHash: req.modelHash,
            tcbStatus: v.tcbStatus,
            issuedAt,
            validUntil: issuedAt + this.o.validitySeconds,
            nonce: req.nonce,
        };
    }

    // What the evidence shows (judgeEvidence), then that Root allowlists it.
    private async evaluate(req: AttestationRequest): Promise<Verdict> {
        const verdict = await judgeEvidence(req, this.o);
        await requireAllowed(this.o.allowlist, verdict.measurement);
        return verdict;
    }

    private async gatherCosignatures(c: CosignRequest): Promise<ProofSignature[]> {
        const needed = this.o.threshold - 1;
        if (needed <= 0) return [];
        const got: ProofSignature[] = [];
        const failures: string[] = [];
        for (const peer of this.o.peers) {
            if (got.length >= needed) break;
            try {
                const s = await peer.cosign(c, (body) => authenticate(body, this.o.key, this.o.now()));
                if (!verifyProofSignature(c.proof, s)) throw new Error('returned a signature that does not verify');
                got.push(s);
            } catch (e) {
                failures.push(`${peer.name}: ${(e as Error).message}`);
            }
        }
        if (got.length < needed) {
            throw new AttestationRefused(
                'peers-unavailable',
                `needed ${needed} co-signature(s), got ${got.length} (${failures.join('; ') || 'no peers configured'})`,
            );
        }
        return got;
    }

    private audit(req: AttestationRequest, at: number, accepted: boolean, reason: string, verdict?: Verdict) {
        this.o.store.audit({
            at,
            provider: req.provider.toRawString(),
            nonce: req.nonce.toString(),
            accepted,
            reason,
            measurement: verdict ? verdict.measurement.toString('hex') : null,
            tcbStatus: verdict ? String(verdict.tcbStatus) : null,
        });
    }
}

function reportDataMismatch() {
    return new AttestationRefused(
        'report-data-mismatch',
        'report_data does not bind these enclave keys, this provider and this nonce (see tee-verifier/README.md for the layout)',
    );
}

// A refusal of the evidence as the API answers it (a quote's own rejection included).
export function asRefusal(e: unknown): AttestationRefused | undefined {
    if (e instanceof AttestationRefused) return e;
    if (e instanceof QuoteRejected) return new AttestationRefused(e.code, e.message);
    return undefined;
}
