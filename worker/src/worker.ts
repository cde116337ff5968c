// The worker: holds the enclave keys, keeps the Provider attested, serves sessions' encrypted
// requests through the model backend, meters them into signed receipts and claims them on-chain.
// Plaintext exists only inside handleChat and is never logged.
import { Address, Cell, Sender, Transaction, beginCell } from '@ton/core';
import { sha256 } from '@noble/hashes/sha256';
import type { Logger } from 'pino';
import {
    CLAIM_VALUE,
    Listing,
    Root,
    ATTESTATION_VALUE,
    PriceRates,
    SESSION_CLOSING,
    SESSION_FINALIZED,
    SESSION_OPEN,
    SESSION_STATUS_NAMES,
    amountDue,
    bigIntToBuffer32,
    bufferToBigInt,
    buildSignatureChain,
    claimWindowEnd,
    clientKeyHashOf,
    parseAttestationProof,
    parseUsageReceipt,
    storeClaimUsage,
    storeSubmitAttestation,
} from '../../wrappers';
import { ChainAccess, ChainUnavailable, onChain, waitFor } from '../../protocol/chain';
import { DecryptionError, RequestEnvelope, ResponseEnvelope, openRequest } from '../../protocol/encryption';
import { SessionState, offerFor, readProvider, readSession } from '../../protocol/state';
import { ChatRequest, Identity, WorkerErrorCode, chatRequestSchema } from '../../protocol/worker-api';
import type { AttestationRequest } from '../../protocol/evidence';
import { ApiError } from '../../protocol/http';
import { Backend, BackendUnavailable } from './backend';
import { EvidenceOptions, collectEvidence } from './evidence';
import { EnclaveKeys, generateEnclaveKeys } from './keys';
import { Meter } from './meter';
import { requestProofFromAny } from './verifier-client';

// A refusal the HTTP layer turns into {error, message} with `status`.
export class WorkerRefusal extends ApiError {
    constructor(
        readonly code: WorkerErrorCode,
        status: number,
        message: string,
    ) {
        super(code, status, message);
        this.name = 'WorkerRefusal';
    }
}

export interface ClaimPolicy {
    minAmount: bigint; // claim once this much is unclaimed...
    intervalSeconds: number; // ...or this long after the last claim...
    deadlineMarginSeconds: number; // ...or this close to the deadline (a session never claimed by its deadline is a timeout)
}

export interface WorkerOptions {
    provider: Address;
    globalId: number;
    chain: ChainAccess;
    sender: Sender; // the worker's wallet: pays for proof submission and claims
    verifiers: string[];
    backend: Backend;
    models: string[]; // served by the backend; each must be in the Provider's listing
    // The hash of the model files the backend serves (`npm run worker -- model-hash DIR`): bound
    // into report_data and the proof; sessions open only for listed models with this hash.
    modelHash: Buffer;
    meter: Meter;
    evidence: EvidenceOptions;
    claim: ClaimPolicy;
    refreshMarginSeconds: number; // re-attest when the attestation has less than this left
    sessionCacheSeconds: number; // how long (wall clock) a session or listing read from the chain is trusted
    confirmTimeoutMs: number; // how long to wait for a sent message to show on-chain
    log: Logger;
}

export const DEFAULT_CLAIM_POLICY: ClaimPolicy = { minAmount: 1_000_000_000n, intervalSeconds: 3600, deadlineMarginSeconds: 1800 };
const DEFAULT_MAX_TOKENS = 1024;

export class Worker {
    readonly stats = { requests: 0, refused: 0, tokensIn: 0n, tokensOut: 0n, claims: 0 };
    private sessions = new Map<string, { state: SessionState; readAt: number }>();
    private queues = new Map<string, Promise<void>>();
    private lastClaimAt = new Map<string, number>();
    private listingCache: { listing: Listing | null; readAt: number } | undefined;
    private attestedUntil: number | null = null;
    // The request (keys, provider, nonce, TDX and GPU evidence) of the attestation the Provider
    // holds: served at GET /v1/evidence so a client can judge it with the verifier's own code.
    private attestedRequest: AttestationRequest | undefined;
    private sends: Promise<unknown> = Promise.resolve();

    private constructor(
        readonly o: WorkerOptions,
        readonly keys: EnclaveKeys,
    ) {}

    static async create(o: WorkerOptions): Promise<Worker> {
        return new Worker(o, await generateEnclaveKeys());
    }

    // The enclave signing key as contracts hold it.
    private get signingKey(): bigint {
        return bufferToBigInt(this.keys.signing.publicKey);
    }

    identity(): Identity {
        return {
            provider: this.o.provider.toString(),
            globalId: this.o.globalId,
            signingKey: this.keys.signing.publicKey.toString('hex'),
            encryptionKey: this.keys.encryption.publicKey.toString('hex'),
            models: this.o.models,
            attestedUntil: this.attestedUntil,
        };
    }

    // ---------------------------------------------------------------------------------------
    // Attestation
    // ---------------------------------------------------------------------------------------

    // The evidence of the current attestation, or an ApiError when there is none yet.
    evidence(): AttestationRequest {
        if (!this.attestedRequest)
            throw new ApiError('not-attested', 503, 'this worker has not been attested since it started: retry shortly');
        return this.attestedRequest;
    }

    // Whether this worker's keys are attested on-chain with more than the refresh margin left,
    // under Root's current verifier set (clients refuse an attestation of an earlier set).
    async attestationDue(): Promise<boolean> {
        const p = await readProvider(this.o.chain, this.o.provider);
        const a = p?.attestation;
        const mine = a && a.signingKey === this.signingKey;
        this.attestedUntil = mine ? Number(a.validUntil) : null;
        if (!mine || Number(a.validUntil) - this.o.chain.now() < this.o.refreshMarginSeconds) return true;
        const set = await onChain(this.o.chain, 'read the verifier set', () =>
            this.o.chain.open(Root.fromAddress(p!.root)).getVerifierSet(),
        );
        return a.verifierEpoch < set.epoch;
    }

    // Gets a proof from the verifiers and submits it; returns when the Provider holds it.
    async attest(): Promise<{ validUntil: number; verifier: string }> {
        const provider = await readProvider(this.o.chain, this.o.provider);
        this.listingCache = undefined;
        if (!provider) throw new Error(`no Provider at ${this.o.provider.toString()}: register it first (scripts/registerProvider)`);
        for (const m of this.o.models) {
            const offer = offerFor(provider.listing, m);
            if (!offer) this.o.log.warn({ model: m }, 'served model is not in the Provider listing: no session can be opened for it');
            else if (offer.modelHash !== bufferToBigInt(this.o.modelHash))
                this.o.log.warn(
                    { model: m, listed: offer.modelHash.toString(16).padStart(64, '0'), served: this.o.modelHash.toString('hex') },
                    'the listing names another model hash than the one this worker serves: sessions for it are refused (update the listing)',
                );
        }
        const bundle = await requestProofFromAny(this.o.verifiers, this.o.provider, this.keys, this.o.modelHash, (binding) =>
            collectEvidence(binding, this.o.evidence),
        );
        const proof = parseAttestationProof(bundle.proof);
        const body = beginCell()
            .store(
                storeSubmitAttestation({
                    $$type: 'SubmitAttestation',
                    queryId: BigInt(proof.issuedAt),
                    proof: bundle.proof,
                    signatures: buildSignatureChain(bundle.signatures),
                }),
            )
            .endCell();
        await this.send(this.o.provider, ATTESTATION_VALUE, body, 'submit the attestation proof');
        const held = await waitFor(async () => {
            const a = (await readProvider(this.o.chain, this.o.provider))?.attestation;
            return a && Number(a.issuedAt) >= proof.issuedAt ? a : undefined;
        }, this.o.confirmTimeoutMs);
        if (!held || held.signingKey !== this.signingKey) {
            throw new Error(
                'the Provider did not accept the attestation proof: see the Provider and Root transactions for the exit code (the measurement may not be allowlisted, the verifier set may have changed, or the Provider already holds a proof issued in the same second: retry)',
            );
        }
        this.attestedUntil = Number(held.validUntil);
        this.attestedRequest = bundle.request;
        this.o.log.info({ validUntil: this.attestedUntil, verifier: bundle.verifier, signatures: bundle.signatures.length }, 'attested');
        return { validUntil: this.attestedUntil, verifier: bundle.verifier };
    }

    // ---------------------------------------------------------------------------------------
    // Serving
    // ---------------------------------------------------------------------------------------

    // Chain reads are cached for sessionCacheSeconds of wall-clock time: on a real network each
    // getter is a round trip to the API. An open session's terms never change; its status and
    // budget are re-read whenever they would refuse a request.
    private async session(address: Address, fresh = false): Promise<SessionState> {
        const key = address.toRawString();
        const cached = this.sessions.get(key);
        if (cached && !fresh && Date.now() - cached.readAt < this.o.sessionCacheSeconds * 1000) return cached.state;
        const state = await readSession(this.o.chain, address);
        if (!state) throw new WorkerRefusal('unknown-session', 404, `no Session at ${address.toString()}: open one first`);
        this.sessions.set(key, { state, readAt: Date.now() });
        return state;
    }

    private async listing() {
        if (!this.listingCache || Date.now() - this.listingCache.readAt >= this.o.sessionCacheSeconds * 1000) {
            this.listingCache = { listing: (await readProvider(this.o.chain, this.o.provider))?.listing ?? null, readAt: Date.now() };
        }
        return this.listingCache.listing;
    }

    // Decrypts, checks, runs and meters one request; returns the encrypted answer and receipt.
    // Requests of one session are served one at a time: receipts are cumulative, so each must
    // build on the previous one and reach the client in order, and the budget check must see
    // what the previous request spent. (Parallelism comes from several sessions.)
    async handleChat(sessionAddress: Address, envelope: RequestEnvelope): Promise<ResponseEnvelope> {
        const key = sessionAddress.toRawString();
        const turn = (this.queues.get(key) ?? Promise.resolve()).then(() => this.serveCounted(sessionAddress, envelope));
        const settled = turn.then(
            () => undefined,
            () => undefined,
        );
        this.queues.set(key, settled);
        void settled.then(() => {
            if (this.queues.get(key) === settled) this.queues.delete(key);
        });
        return turn;
    }

    private async serveCounted(sessionAddress: Address, envelope: RequestEnvelope): Promise<ResponseEnvelope> {
        try {
            const r = await this.serve(sessionAddress, envelope);
            this.stats.requests += 1;
            return r;
        } catch (e) {
            this.stats.refused += 1;
            if (e instanceof WorkerRefusal) throw e;
            if (e instanceof ChainUnavailable) throw new WorkerRefusal('chain-unavailable', 503, e.message);
            if (e instanceof BackendUnavailable) throw new WorkerRefusal('backend-unavailable', 502, e.message);
            throw e;
        }
    }

    private async serve(sessionAddress: Address, envelope: RequestEnvelope): Promise<ResponseEnvelope> {
        let s = await this.servableSession(sessionAddress, envelope);
        const opened = await this.open(sessionAddress, envelope);
        const request = parseChatRequest(opened.plaintext);
        const terms = s.terms!;
        const prices: PriceRates = terms.prices;
        await this.requireModel(request.model, prices);

        // Never serve what the budget cannot pay: bound the prompt's tokens by its bytes (every
        // token is at least one byte) and cap the answer's length by what is left.
        const previous = this.o.meter.latest(sessionAddress);
        const spent = previous?.amountDue ?? 0n;
        const promptBound = BigInt(request.messages.reduce((n, m) => n + Buffer.byteLength(m.content) + 8, 16));
        const affordable = () => affordableOutput(s.budget - spent - ceilDiv(promptBound * prices.pricePerMillionIn, 1_000_000n), prices);
        if (affordable() < 1n) {
            s = await this.session(sessionAddress, true); // a top-up may have landed
            if (affordable() < 1n) {
                throw new WorkerRefusal('budget-exhausted', 402, 'the session budget is spent: top it up or open a new session');
            }
        }
        const maxTokens = min(BigInt(request.max_tokens ?? DEFAULT_MAX_TOKENS), affordable());
        const completion = await this.o.backend.complete({ ...request, max_tokens: Number(maxTokens) });

        // Charge what the backend counted, within the bounds above. Rounding of the cumulative
        // amount can still exceed the budget by a nanoton or two: drop tokens until it fits (the
        // provider absorbs it; the Session would refuse a receipt over the budget).
        let tokensIn = min(BigInt(completion.usage.prompt_tokens), promptBound);
        let tokensOut = min(BigInt(completion.usage.completion_tokens), maxTokens);
        const [prevIn, prevOut] = [previous?.tokensIn ?? 0n, previous?.tokensOut ?? 0n];
        while ((tokensIn > 0n || tokensOut > 0n) && amountDue(prevIn + tokensIn, prevOut + tokensOut, prices) > s.budget) {
            if (tokensOut > 0n) tokensOut -= 1n;
            else tokensIn -= 1n;
        }
        completion.usage = {
            prompt_tokens: Number(tokensIn),
            completion_tokens: Number(tokensOut),
            total_tokens: Number(tokensIn + tokensOut),
        };
        // resultsHash chains the answers served: sha256(previous hash || this answer).
        const previousHash = previous ? parseUsageReceipt(previous.receipt).resultsHash : 0n;
        const answerBytes = Buffer.from(JSON.stringify(completion));
        const resultsHash = bufferToBigInt(Buffer.from(sha256(Buffer.concat([bigIntToBuffer32(previousHash), answerBytes]))));
        const receipt = this.o.meter.record(sessionAddress, s.openedAt, this.keys.signing, prices, { tokensIn, tokensOut }, resultsHash);
        this.stats.tokensIn += tokensIn;
        this.stats.tokensOut += tokensOut;
        this.o.log.info(
            { session: sessionAddress.toString(), seqno: receipt.seqno, tokensIn: Number(tokensIn), tokensOut: Number(tokensOut) },
            'served',
        );
        const answer = { completion, receipt: receipt.receipt.toBoc().toString('base64'), signature: receipt.signature.toString('hex') };
        return opened.sealResponse(Buffer.from(JSON.stringify(answer)));
    }

    // The session as the chain has it, if this worker may serve it for this client key.
    private async servableSession(sessionAddress: Address, envelope: RequestEnvelope): Promise<SessionState> {
        let s = await this.session(sessionAddress);
        if (!s.provider.equals(this.o.provider)) {
            throw new WorkerRefusal('other-provider', 409, `the session is with the Provider ${s.provider.toString()}, not this worker's`);
        }
        if (s.status !== Number(SESSION_OPEN)) {
            s = await this.session(sessionAddress, true);
            if (s.status !== Number(SESSION_OPEN)) {
                throw new WorkerRefusal('session-not-open', 409, `the session is ${SESSION_STATUS_NAMES[s.status]}: it takes no requests`);
            }
        }
        if (s.terms!.signingKey !== this.signingKey) {
            throw new WorkerRefusal(
                'previous-enclave-key',
                409,
                'the session was opened under an earlier enclave key of this provider (the worker restarted): close it and open a new session',
            );
        }
        if (this.o.chain.now() >= s.deadline) {
            throw new WorkerRefusal('deadline-passed', 409, 'the session deadline has passed: open a new session');
        }
        if (clientKeyHashOf(Buffer.from(envelope.clientKey, 'base64')) !== s.clientKeyHash) {
            throw new WorkerRefusal('not-your-session', 403, 'the request is not from the session key this session was opened with');
        }
        return s;
    }

    private async open(sessionAddress: Address, envelope: RequestEnvelope) {
        let opened;
        try {
            opened = await openRequest(this.keys.encryption, sessionAddress, envelope);
        } catch (e) {
            if (e instanceof DecryptionError) throw new WorkerRefusal('undecryptable', 400, e.message);
            throw e;
        }
        // Only requests that decrypt are logged, so junk cannot fill the log.
        if (!this.o.meter.firstUse(sessionAddress, Buffer.from(envelope.enc, 'base64'))) {
            throw new WorkerRefusal('replayed-request', 409, 'this request was already served: seal every request anew');
        }
        return opened;
    }

    private async requireModel(model: string, prices: PriceRates) {
        if (!this.o.models.includes(model)) {
            throw new WorkerRefusal('model-not-served', 400, `this worker serves only ${this.o.models.join(', ')}`);
        }
        const offer = offerFor(await this.listing(), model);
        if (
            !offer ||
            offer.prices.pricePerMillionIn !== prices.pricePerMillionIn ||
            offer.prices.pricePerMillionOut !== prices.pricePerMillionOut
        ) {
            throw new WorkerRefusal(
                'model-not-served',
                400,
                'the session was opened for another model than the one requested: ask for the model the session was opened for',
            );
        }
    }

    // ---------------------------------------------------------------------------------------
    // Claims
    // ---------------------------------------------------------------------------------------

    // Claims every session whose latest receipt is due under the claim policy (or all of them
    // with `force`). Sessions over on-chain are marked settled.
    // A session with no receipt claimed yet is always due: its first claim acknowledges it.
    async claimDue(force = false, only?: Address): Promise<{ session: Address; seqno: number; amountDue: bigint }[]> {
        const claimed: { session: Address; seqno: number; amountDue: bigint }[] = [];
        for (const address of only ? [only] : this.o.meter.unsettled()) {
            const latest = this.o.meter.latest(address)!;
            const s = await readSession(this.o.chain, address);
            if (!s || s.status === Number(SESSION_FINALIZED)) {
                this.o.meter.markSettled(address);
                continue;
            }
            if (latest.seqno <= s.seqno || !s.terms) continue;
            const now = this.o.chain.now();
            const windowEnd = claimWindowEnd(s.status, s.deadline, s.closedAt, Number(s.terms.closeGracePeriod));
            if (now > windowEnd) {
                this.o.log.error(
                    { session: address.toString(), seqno: latest.seqno },
                    'claim window over before the latest receipt was claimed',
                );
                this.o.meter.markSettled(address);
                continue;
            }
            const due =
                force ||
                s.seqno === 0 ||
                s.status === Number(SESSION_CLOSING) ||
                latest.amountDue - s.claimed >= this.o.claim.minAmount ||
                now - this.claimClock(address, now) >= this.o.claim.intervalSeconds ||
                s.deadline - now <= this.o.claim.deadlineMarginSeconds;
            if (!due) continue;
            const body = beginCell()
                .store(
                    storeClaimUsage({
                        $$type: 'ClaimUsage',
                        queryId: BigInt(latest.seqno),
                        signature: latest.signature,
                        receipt: latest.receipt,
                    }),
                )
                .endCell();
            await this.send(address, CLAIM_VALUE, body, `claim receipt #${latest.seqno}`);
            const after = await waitFor(async () => {
                const now = await readSession(this.o.chain, address);
                return now && now.seqno >= latest.seqno ? now : undefined;
            }, this.o.confirmTimeoutMs);
            if (!after) {
                this.o.log.warn({ session: address.toString(), seqno: latest.seqno }, 'claim not confirmed yet; retried on the next pass');
                continue;
            }
            this.lastClaimAt.set(address.toRawString(), now);
            this.stats.claims += 1;
            claimed.push({ session: address, seqno: latest.seqno, amountDue: latest.amountDue });
            this.o.log.info({ session: address.toString(), seqno: latest.seqno, amountDue: latest.amountDue.toString() }, 'claimed');
        }
        return claimed;
    }

    // Acknowledges every session this Provider accepted under this worker's key that has no
    // receipt claimed yet: a zero receipt, claimed at once. A session with no receipt claimed by
    // the end of its claim window is a timeout and costs the provider collateral, whatever the
    // client did; the acknowledgement shows the enclave was there. Sessions are found in the
    // Provider's transactions (each acceptance answers a LockCollateral from the Session).
    async acknowledgeNewSessions(): Promise<Address[]> {
        const transactions = await onChain(this.o.chain, "read the Provider's transactions", () =>
            this.o.chain.transactions(this.o.provider, this.o.meter.scannedLt()),
        );
        const acknowledged: Address[] = [];
        for (const tx of transactions) {
            const session = acceptedSession(tx);
            if (session) {
                const s = await readSession(this.o.chain, session);
                if (
                    s &&
                    (s.status === Number(SESSION_OPEN) || s.status === Number(SESSION_CLOSING)) &&
                    s.seqno === 0 &&
                    s.terms?.signingKey === this.signingKey
                ) {
                    const prices = s.terms.prices;
                    this.o.meter.acknowledge(session, s.openedAt, this.keys.signing, prices);
                    acknowledged.push(session);
                }
            }
            this.o.meter.setScannedLt(tx.lt);
        }
        for (const session of acknowledged) await this.claimDue(false, session);
        return acknowledged;
    }

    // When the claim interval of a session started: its last claim, or when this process first
    // saw it.
    private claimClock(address: Address, now: number): number {
        const key = address.toRawString();
        if (!this.lastClaimAt.has(key)) this.lastClaimAt.set(key, now);
        return this.lastClaimAt.get(key)!;
    }

    // One pass of the background loop: re-attest when due, acknowledge new sessions, then claim
    // what is due.
    async tick() {
        try {
            if (await this.attestationDue()) await this.attest();
        } catch (e) {
            this.o.log.error({ err: (e as Error).message }, 'attestation refresh failed; retried on the next pass');
        }
        try {
            await this.acknowledgeNewSessions();
        } catch (e) {
            this.o.log.error({ err: (e as Error).message }, 'looking for new sessions failed; retried on the next pass');
        }
        try {
            await this.claimDue();
        } catch (e) {
            this.o.log.error({ err: (e as Error).message }, 'claim pass failed; retried on the next pass');
        }
    }

    // Wallet sends are serialized: a wallet accepts one seqno at a time.
    private send(to: Address, value: bigint, body: Cell, what: string) {
        const next = this.sends.then(() => onChain(this.o.chain, what, () => this.o.sender.send({ to, value, body, bounce: true })));
        this.sends = next.catch(() => undefined);
        return next;
    }
}

// The Session whose LockCollateral this Provider transaction accepted, if it is one.
function acceptedSession(tx: Transaction): Address | null {
    const m = tx.inMessage;
    if (!m || m.info.type !== 'internal' || m.info.bounced) return null;
    if (tx.description.type !== 'generic' || tx.description.aborted) return null;
    const body = m.body.beginParse();
    if (body.remainingBits < 32 || body.preloadUint(32) !== Root.opcodes.LockCollateral) return null;
    return m.info.src;
}

function parseChatRequest(plaintext: Buffer): ChatRequest {
    try {
        return chatRequestSchema.parse(JSON.parse(plaintext.toString('utf8')));
    } catch (e) {
        // Refusals travel unencrypted: name the fields and the kind of problem, never a value
        // (zod's messages may quote what was received).
        const detail =
            e instanceof SyntaxError
                ? 'not JSON'
                : (e as { issues?: { path: unknown[]; code: string }[] }).issues
                      ?.map((i) => `${i.path.join('.') || 'body'}: ${i.code}`)
                      .join('; ');
        throw new WorkerRefusal('bad-request', 400, `the decrypted request is not a chat completion request (${detail})`);
    }
}

// Output tokens that `left` nanotons pay for (free output: the default cap).
function affordableOutput(left: bigint, prices: PriceRates): bigint {
    if (left < 0n) return 0n;
    return prices.pricePerMillionOut === 0n ? BigInt(DEFAULT_MAX_TOKENS) : (left * 1_000_000n) / prices.pricePerMillionOut;
}

const min = (a: bigint, b: bigint) => (a < b ? a : b);
const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;
