// The worker: holds the enclave keys, keeps the Provider attested, serves sessions' encrypted
// requests through the model backend, meters them into signed receipts and claims them on-chain.
// Plaintext exists only inside handleChat and is never logged.
import { Address, Cell, SendMode, Sender, Transaction, beginCell } from '@ton/core';
import { createHash, randomBytes } from 'crypto';
import type { Logger } from 'pino';
import {
    CLAIM_VALUE,
    FINALIZE_ABANDONED_VALUE,
    Listing,
    Root,
    ATTESTATION_VALUE,
    PriceRates,
    NO_USAGE,
    PRICE_FIELDS,
    TOKEN_FIELDS,
    TokenUsage,
    addUsage,
    SESSION_CLOSING,
    SESSION_FINALIZED,
    SESSION_OPEN,
    SESSION_OPENING,
    OPENING_TIMEOUT,
    SESSION_RELEASE_FAILED,
    SESSION_STATUS_NAMES,
    bufferToBigInt,
    buildSignatureChain,
    claimWindowEnd,
    loadSessionSettlement,
    servingEnd,
    clientKeyHashOf,
    parseAttestationProof,
    storeClaimUsage,
    storeFinalizeSession,
    storeSubmitAttestation,
} from '../../wrappers';
import { ChainAccess, ChainUnavailable, isBatchSender, onChain, waitFor } from '../../protocol/chain';
import { mapBounded } from '../../protocol/map-bounded';
import { DecryptionError, RequestEnvelope, ResponseEnvelope, StreamFrame, StreamSealer, openRequest } from '../../protocol/encryption';
import { SessionState, isProviderOf, isSessionOf, offerFor, readProvider, readSession } from '../../protocol/state';
import {
    Completion,
    CompletionChunk,
    InferenceRequest,
    SealedAnswer,
    StoredStream,
    StreamFramePayload,
    UsageObject,
    requestedMaxTokens,
    tokenUsageOf,
    usageObjectOf,
    DEFAULT_MAX_TOKENS,
    Identity,
    WorkerErrorCode,
    isTextCompletionRequest,
    parseInferenceRequest,
    requestTokenBounds,
} from '../../protocol/worker-api';
import type { AttestationRequest } from '../../protocol/evidence';
import { ApiError, MinuteCounter } from '../../protocol/http';
import { AsyncQueue } from '../../protocol/async-queue';
import { Backend, BackendRejected, BackendUnavailable } from './backend';
import { EvidenceOptions, collectEvidence } from './evidence';
import { AnswerStore, EnclaveKeys, RowAuthenticator, answerStore, generateEnclaveKeys, rowAuthenticator } from './keys';
import { Meter, SignedReceipt, requestRowBytes } from './meter';
import { SealedKeys } from './sealed-keys';
import { requestProofFromAny } from './verifier-client';

// A refusal the HTTP layer turns into {error, message} with `status`.
export class WorkerRefusal extends ApiError {
    constructor(
        readonly code: WorkerErrorCode,
        status: number,
        message: string,
        // for 'rejected-by-model': the backend's explanation, sealed to the client; for
        // 'stale-boot': this run's id, to seal the request for
        extra?: { sealed: ResponseEnvelope } | { boot: string },
    ) {
        super(code, status, message, extra);
        this.name = 'WorkerRefusal';
    }
}

export interface ClaimPolicy {
    minAmount: bigint; // claim once this much is unclaimed...
    intervalSeconds: number; // ...or this long after the last claim...
    deadlineMarginSeconds: number; // ...or this close to the deadline (a session never claimed by its deadline is a timeout)
    // Finalize a session this long after its claim window when its client has not (null: never).
    // Until someone finalizes, the Provider's collateral for it stays locked. Long enough that a
    // client who only wants its budget back finalizes first (the worker pays for the finalize,
    // and what the chain does not spend of it goes to the client).
    finalizeAbandonedAfterSeconds: number | null;
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
    // How long (wall clock) a session's status and budget, or the listing, read from the chain are
    // trusted: a request accepted this long after the client closed the session is served but never
    // paid (the Session refuses receipts with later requests).
    sessionCacheSeconds: number;
    maxConcurrentPerSession: number; // requests of one session served at once (more are refused: 429 session-busy)
    perSessionPerMinute: number; // chat requests of one session a minute (more are refused: 429 rate-limited)
    answerRetentionSeconds: number; // how long answers are kept for retries
    sealedKeys?: SealedKeys; // keep the enclave keys across restarts (sealed-keys.ts)
    confirmTimeoutMs: number; // how long to wait for a sent message to show on-chain
    log: Logger;
}

const SESSION_CACHE_SIZE = 10_000;
// A state kept because its account's lt did not move is read afresh at least this often: every
// 10 cache periods or 30 s, whichever is longer.
const STATE_REREAD_PERIODS = 10;
const STATE_REREAD_MIN_MS = 30_000;
// A claim past the window by this machine's clock is tried only if the chain's newest block leaves
// it this long to land (the newest block an endpoint reports is itself a few seconds old).
const LATE_CLAIM_MARGIN_SECONDS = 30;
const SERVED_MEMORY = 200_000;
// How long past OPENING_TIMEOUT an acceptance whose Session does not read as open yet is waited
// for (acknowledgeNewSessions): the Session takes it within seconds unless its opening was cancelled.
const ACCEPTANCE_WAIT_MARGIN_SECONDS = 600;
// The claim pass reads this many sessions at once (each read is a chain round trip; an endpoint
// limits requests per second).
const CHAIN_READS_AT_ONCE = 8;

// A state read from the chain: when it was last checked, its account's last lt then, and when its
// getters last ran (Worker.reread).
interface ChainRead<T> {
    value: T;
    readAt: number;
    lt?: bigint;
    gotAt: number;
}

// What a stored answer is bound to: it opens only as the answer to this request of this session.
function answerContext(session: Address, requestId: string, requestHash: Buffer): Buffer {
    return Buffer.concat([Buffer.from(session.toRawString()), Buffer.from('|' + requestId + '|'), requestHash]);
}

export const DEFAULT_CLAIM_POLICY: ClaimPolicy = {
    minAmount: 1_000_000_000n,
    intervalSeconds: 3600,
    deadlineMarginSeconds: 1800,
    finalizeAbandonedAfterSeconds: 7 * 86_400,
};
// A FinalizeSession that did not do its work (the chain refused it, it is still on its way, or the
// collateral release bounced again) is sent again after 10 minutes, then 20, 40 and 80; after five
// attempts the session is left to its client (until the worker restarts).
const FINALIZE_RETRY_SECONDS = 600;
const FINALIZE_ATTEMPTS = 5;

export class Worker {
    readonly stats = { requests: 0, refused: 0, tokens: NO_USAGE, claims: 0, abandonedFinalizes: 0 };
    private seenEnvelopes = new Set<string>(); // session|enc of the envelopes opened, the oldest forgotten first
    // Sessions read from the chain (null: no Session there, so junk addresses cost one read each
    // per cache period), at most SESSION_CACHE_SIZE of them.
    private sessions = new Map<string, ChainRead<SessionState | null>>();
    // Requests being served, by session and request id: a retry that arrives meanwhile joins the
    // same answer (a stream's retry gets its frames as they are produced, not once it is whole).
    // And per session, how many are in flight and the worst case they may cost.
    private inFlight = new Map<string, { hash: Buffer; answer: Promise<Buffer>; live?: LiveStream; started?: Promise<void> }>();
    private flights = new Map<string, { count: number; reserved: bigint }>();
    // Request keys (session|id) this process served, the latest SERVED_MEMORY of them: the request
    // log is on disk the host controls, and a request must never be served (and charged) twice.
    private served = new Set<string>();
    private rates = new MinuteCounter(SESSION_CACHE_SIZE);
    private readonly answers: AnswerStore;
    private readonly rows: RowAuthenticator;
    private lastClaimAt = new Map<string, number>();
    private lateClaims = new Set<string>(); // sessions claimed once past the window by this machine's clock
    private givenUp = new Set<string>(); // sessions whose latest receipt missed the claim window (logged once)
    private unreadLastPass = new Set<string>(); // sessions the last claim pass could not read (read last on the next)
    // sessions left open by their clients that this worker finalized: when last, how many times
    private finalizeAttempts = new Map<string, { at: number; count: number }>();
    private listingCache: ChainRead<Listing | null> | undefined;
    // The Provider's Root and owner, which never change: every Session of it commits to them.
    private providerIdentity: { root: Address; owner: Address } | undefined; // (ownProvider)
    // Sessions found to be Sessions of this Provider (isOwnSession), the latest SESSION_CACHE_SIZE.
    private ownSessions = new Set<string>();
    private readsInFlight = new Map<string, Promise<unknown>>(); // by what they read (sharedRead)
    private attestedUntil: number | null = null;
    // The request (keys, provider, nonce, TDX and GPU evidence) of the attestation the Provider
    // holds: served at GET /v1/evidence so a client can judge it with the verifier's own code.
    private attestedRequest: AttestationRequest | undefined;
    private sends: Promise<unknown> = Promise.resolve();

    private constructor(
        readonly o: WorkerOptions,
        readonly keys: EnclaveKeys,
    ) {
        this.answers = answerStore(keys);
        this.rows = rowAuthenticator(keys);
    }

    // With `sealedKeys`, the keys (and the evidence of their attestation) of an earlier run are
    // unsealed, so that its sessions go on; new keys are sealed at once.
    static async create(o: WorkerOptions): Promise<Worker> {
        const sealed = await o.sealedKeys?.load();
        if (!sealed) {
            const keys = await generateEnclaveKeys();
            await o.sealedKeys?.save({ keys });
            return new Worker(o, keys);
        }
        const worker = new Worker(o, sealed.keys);
        worker.attestedRequest = sealed.evidence;
        o.log.info({ file: o.sealedKeys!.path }, 'enclave keys unsealed: sessions opened before the restart go on');
        return worker;
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
            boot: this.boot,
        };
    }

    // This run of the worker: requests are sealed for it (RequestEnvelope.boot), so that none sealed
    // for an earlier run is served after a restart with the same (sealed) keys.
    readonly boot = randomBytes(16).toString('hex');

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
        const p = await this.ownProvider();
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
        const provider = await this.ownProvider();
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
            const a = (await this.ownProvider())?.attestation;
            return a && Number(a.issuedAt) >= proof.issuedAt ? a : undefined;
        }, this.o.confirmTimeoutMs);
        if (!held || held.signingKey !== this.signingKey) {
            throw new Error(
                'the Provider did not accept the attestation proof: see the Provider and Root transactions for the exit code (the measurement may not be allowlisted, the verifier set may have changed, or the Provider already holds a proof issued in the same second: retry)',
            );
        }
        this.attestedUntil = Number(held.validUntil);
        this.attestedRequest = bundle.request;
        await this.o.sealedKeys?.save({ keys: this.keys, evidence: bundle.request });
        this.o.log.info({ validUntil: this.attestedUntil, verifier: bundle.verifier, signatures: bundle.signatures.length }, 'attested');
        return { validUntil: this.attestedUntil, verifier: bundle.verifier };
    }

    // ---------------------------------------------------------------------------------------
    // Serving
    // ---------------------------------------------------------------------------------------

    // Chain reads are cached for sessionCacheSeconds of wall-clock time: on a real network each
    // getter is a round trip to the API. Then a session whose account has had no transaction since
    // (one read of its last transaction's lt, where the chain offers it) is still as it was read,
    // up to a bound (reread). An open session's terms never change; its status and budget are read
    // afresh (getters run) whenever they would refuse a request.
    private async session(address: Address, fresh = false): Promise<SessionState> {
        const key = address.toRawString();
        const cached = this.sessions.get(key);
        // (a session not there yet is looked for again after a second: its client may be opening it)
        const maxAge = cached?.value === null ? Math.min(1000, this.o.sessionCacheSeconds * 1000) : this.o.sessionCacheSeconds * 1000;
        let state = cached?.value;
        if (!cached || fresh || Date.now() - cached.readAt >= maxAge) {
            const read = await this.reread(
                cached?.value ? cached : undefined,
                address,
                `read the Session ${address.toString()}`,
                fresh,
                () => readSession(this.o.chain, address),
            );
            state = read.value;
            this.sessions.delete(key); // re-inserted last: the map's order is the order of reads
            this.sessions.set(key, read);
            if (this.sessions.size > SESSION_CACHE_SIZE) this.sessions.delete(this.sessions.keys().next().value!);
        }
        if (!state) throw new WorkerRefusal('unknown-session', 404, `no Session at ${address.toString()}: open one first`);
        return state;
    }

    // The Provider's listing, cached the same way as sessions.
    private async listing() {
        const cached = this.listingCache;
        if (!cached || Date.now() - cached.readAt >= this.o.sessionCacheSeconds * 1000) {
            this.listingCache = await this.reread(cached, this.o.provider, "read the Provider's listing", false, async () => {
                return (await this.ownProvider())?.listing ?? null;
            });
        }
        return this.listingCache!.value;
    }

    // A state of the account at `address` read again: the one read earlier if it is still current
    // (its account's last lt is the same as then, 0 telling nothing, and its getters ran less than
    // STATE_REREAD_PERIODS cache periods or STATE_REREAD_MIN_MS ago, whichever is longer), else
    // `read` runs (always when `fresh`). The bound: behind failover or a load balancer, the getter
    // may come from an endpoint a block behind the one that gave the lt; such a read is not kept
    // longer than that. The lt is read first: a transaction in between makes the next check read again.
    // Requests that need the same state read at once share one read (a session's requests in
    // flight, every request for the listing): one chain round trip instead of one each, also when
    // many requests of a closed or spent session each ask for a fresh read before refusing. A
    // request that joins a read under way gets a state at most one round trip older than itself.
    private reread<T>(
        cached: ChainRead<T> | undefined,
        address: Address,
        what: string,
        fresh: boolean,
        read: () => Promise<T>,
    ): Promise<ChainRead<T>> {
        // (`what` names the account and the state)
        return this.sharedRead(`${what}${fresh ? ' (fresh)' : ''}`, async () => {
            const chain = this.o.chain;
            const lt = chain.lastTransactionLt && (await onChain(chain, what, () => chain.lastTransactionLt!(address)));
            const rereadMs = Math.max(STATE_REREAD_PERIODS * this.o.sessionCacheSeconds * 1000, STATE_REREAD_MIN_MS);
            const keep = !fresh && cached && lt !== undefined && lt !== 0n && lt === cached.lt && Date.now() - cached.gotAt < rereadMs;
            const now = Date.now();
            return keep ? { ...cached, readAt: now } : { value: await read(), readAt: now, lt, gotAt: now };
        });
    }

    // The read under way under `key`, or `read` started (and forgotten once it settles, failed or not).
    private sharedRead<T>(key: string, read: () => Promise<T>): Promise<T> {
        const shared = this.readsInFlight.get(key) as Promise<T> | undefined;
        if (shared) return shared;
        const reading = read().finally(() => this.readsInFlight.delete(key));
        this.readsInFlight.set(key, reading);
        return reading;
    }

    // Decrypts, checks, runs and meters one request; returns the encrypted answer and receipt.
    // Idempotent by the envelope's request id: a retry (sealed anew, or the same envelope replayed)
    // gets the answer already served, resealed for whoever sealed it, and is not charged again.
    async handleChat(sessionAddress: Address, envelope: RequestEnvelope): Promise<ChatReply> {
        try {
            const r = await this.serve(sessionAddress, envelope);
            this.stats.requests += 1;
            return r;
        } catch (e) {
            // (a request sealed for another run is the client learning this run, not a refusal of it)
            if (!(e instanceof WorkerRefusal && e.code === 'stale-boot')) this.stats.refused += 1;
            if (e instanceof WorkerRefusal) throw e;
            if (e instanceof ChainUnavailable) throw new WorkerRefusal('chain-unavailable', 503, e.message);
            if (e instanceof BackendUnavailable) throw new WorkerRefusal('backend-unavailable', 502, e.message);
            throw e;
        }
    }

    private async serve(sessionAddress: Address, envelope: RequestEnvelope): Promise<ChatReply> {
        // Only envelopes sealed for this run: what keeps an earlier run's envelope from being served
        // again lives in memory and in the request log on the host's disk, which the host can edit.
        if (envelope.boot !== this.boot) {
            throw new WorkerRefusal(
                'stale-boot',
                409,
                `the request is sealed for ${envelope.boot ? 'an earlier run' : 'no run'} of this worker: seal it again for run ${this.boot}`,
                { boot: this.boot },
            );
        }
        const s = await this.sessionOfClient(sessionAddress, envelope);
        this.requireWithinRate(sessionAddress);
        const opened = await this.open(sessionAddress, envelope);
        const requestHash = createHash('sha256').update(opened.plaintext).digest();
        const key = `${sessionAddress.toRawString()}|${envelope.requestId}`;
        const sameRequest = (hash: Buffer) => {
            if (!hash.equals(requestHash)) {
                throw new WorkerRefusal(
                    'request-id-reused',
                    409,
                    'this request id was already used for another request in this session: choose a new id for every request',
                );
            }
        };
        // A request already served (or being served) is answered whatever the session's state now:
        // it was accepted while the session was open, and its receipt is payable.
        const inFlight = this.inFlight.get(key);
        if (inFlight) {
            sameRequest(inFlight.hash);
            if (inFlight.live) {
                await Promise.race([inFlight.started, this.sealed(inFlight.answer, opened.sealResponse)]);
                return { kind: 'stream', frames: sealFrames(inFlight.live.reader(), opened.sealStream()) };
            }
            return this.replay(await this.sealed(inFlight.answer, opened.sealResponse), opened);
        }
        const stored = this.o.meter.answerOf(sessionAddress, envelope.requestId);
        if (stored || this.served.has(key)) {
            if (!stored) {
                // the request log lost a request this process served: never serve (and charge) it again
                throw new WorkerRefusal('answer-expired', 410, `request ${envelope.requestId} was served: it is not served again`);
            }
            sameRequest(stored.requestHash);
            const answer = stored.answer && this.openStored(stored.answer, answerContext(sessionAddress, envelope.requestId, requestHash));
            if (!answer) {
                throw new WorkerRefusal(
                    'answer-expired',
                    410,
                    `request ${envelope.requestId} was served (receipt #${stored.seqno}) but its answer is no longer kept: it is not served again`,
                );
            }
            return this.replay(answer, opened);
        }
        // An envelope seen before and not answered then (refused, or its stream broke off) is a
        // replay, not a retry: a client seals every attempt anew. Served again it would be charged
        // for a request its client counts as unserved.
        const encKey = `${sessionAddress.toRawString()}|${envelope.enc}`;
        if (this.seenEnvelopes.has(encKey)) {
            throw new WorkerRefusal('replayed', 409, 'this envelope was sent before: a retry is sealed anew');
        }
        this.seenEnvelopes.add(encKey);
        if (this.seenEnvelopes.size > SEEN_ENVELOPES) this.seenEnvelopes.delete(this.seenEnvelopes.values().next().value!);
        if (envelope.resume) {
            throw new WorkerRefusal(
                'nothing-to-resume',
                410,
                `request ${envelope.requestId} has no answer kept to go on with (it broke off before it was complete, which is not charged): it is not served anew`,
            );
        }
        this.requireOpen(s.status === Number(SESSION_OPEN) ? s : await this.session(sessionAddress, true));
        const request = parseRequest(opened.plaintext);
        if (!request.stream) {
            const answer = this.serveNew(sessionAddress, s, request, opened.plaintext.length, envelope.requestId, requestHash);
            this.inFlight.set(key, { hash: requestHash, answer });
            try {
                return { kind: 'whole', envelope: opened.sealResponse(await this.sealed(answer, opened.sealResponse)) };
            } finally {
                this.inFlight.delete(key);
            }
        }
        // A stream: the answer's chunks go out as the backend produces them. The backend is read to
        // its end (and the answer stored and charged) even if the client goes away, so that a
        // retry under the same id gets the whole answer.
        const live = new LiveStream();
        const payloads = live.reader();
        let streaming = false;
        let started!: () => void;
        const ready = new Promise<void>((resolve) => (started = resolve));
        const answer = this.serveNew(sessionAddress, s, request, opened.plaintext.length, envelope.requestId, requestHash, {
            started: () => {
                streaming = true;
                started();
            },
            chunk: (chunk) => live.push({ chunk }),
        });
        this.inFlight.set(key, { hash: requestHash, answer, live, started: ready });
        answer
            .then((plain) => live.push({ done: (JSON.parse(plain.toString('utf8')) as StoredStream).done }))
            .catch((e: Error) => {
                if (!streaming) return; // refused before it started: an HTTP error below
                this.o.log.warn({ session: sessionAddress.toString(), err: e.message }, 'a stream failed after it started: not charged');
                live.push({ failed: { error: 'backend-unavailable', message: `the answer broke off, not charged: ${e.message}` } });
            })
            .finally(() => {
                live.end();
                this.inFlight.delete(key);
            });
        // Refusals (budget, the model's own) come before the stream starts, as an HTTP error.
        await Promise.race([ready, this.sealed(answer, opened.sealResponse)]);
        return { kind: 'stream', frames: sealFrames(payloads, opened.sealStream()) };
    }

    // An answer already served, for a retry: whole, or its stream frame by frame.
    private replay(
        answer: Buffer,
        opened: { sealResponse: (b: Uint8Array) => ResponseEnvelope; sealStream: () => StreamSealer },
    ): ChatReply {
        const stored = JSON.parse(answer.toString('utf8')) as Partial<StoredStream>;
        if (!stored.chunks) return { kind: 'whole', envelope: opened.sealResponse(answer) };
        const payloads = new AsyncQueue<StreamFramePayload>();
        for (const chunk of stored.chunks) payloads.push({ chunk });
        payloads.push({ done: stored.done! });
        payloads.end();
        return { kind: 'stream', frames: sealFrames(payloads, opened.sealStream()) };
    }

    // The answer's plaintext; the model's own refusal sealed to the client.
    private async sealed(answer: Promise<Buffer>, seal: (bytes: Uint8Array) => ResponseEnvelope): Promise<Buffer> {
        try {
            return await answer;
        } catch (e) {
            if (e instanceof BackendRejected) throw this.rejectedByModel(e, seal);
            throw e;
        }
    }

    private remember(key: string) {
        this.served.add(key);
        if (this.served.size > SERVED_MEMORY) this.served.delete(this.served.values().next().value!);
    }

    // Chat requests per session per minute, counted once the request is known to come from the
    // session's client (a stranger's requests never use up a session's allowance).
    private requireWithinRate(session: Address) {
        if (this.rates.add(session.toRawString()) > this.o.perSessionPerMinute) {
            throw new WorkerRefusal('rate-limited', 429, `at most ${this.o.perSessionPerMinute} requests a minute per session`);
        }
    }

    // A stored answer, or null if these enclave keys cannot read it (stored before a restart).
    private openStored(blob: Buffer, context: Buffer): Buffer | null {
        try {
            return this.answers.open(blob, context);
        } catch {
            return null;
        }
    }

    // The backend's own refusal, sealed to the client (it may quote the request); not charged.
    private rejectedByModel(e: BackendRejected, seal: (bytes: Uint8Array) => ResponseEnvelope): WorkerRefusal {
        return new WorkerRefusal(
            'rejected-by-model',
            e.status === 413 ? 413 : 400,
            `the model refused the request (HTTP ${e.status}), not charged; its explanation is sealed to you in "sealed"`,
            { sealed: seal(Buffer.from(JSON.stringify(e.body ?? null))) },
        );
    }

    // Reads a streamed answer from the backend, passing each chunk on as it comes (without the
    // usage, which the worker charges and reports itself); `started` once the backend accepted.
    private async streamed(request: InferenceRequest, to: { started: () => void; chunk: (c: CompletionChunk) => void }): Promise<Produced> {
        const chunks = await this.o.backend.stream(request);
        to.started();
        const kept: CompletionChunk[] = [];
        let usage: UsageObject | undefined;
        for await (const chunk of chunks) {
            if (chunk.usage) usage = chunk.usage;
            if (chunk.choices.length === 0) continue; // the usage chunk
            const { usage: _, ...withoutUsage } = chunk;
            kept.push(withoutUsage);
            to.chunk(withoutUsage);
        }
        if (!usage) throw new BackendUnavailable('the model backend streamed no usage counts; the worker meters by them');
        return { usage, chunks: kept };
    }

    // Runs a request never seen before: reserves its worst case against the budget, calls the
    // backend, and records the receipt and the answer in one write. Returns the answer's plaintext
    // (a SealedAnswer, or for a stream a StoredStream after `stream.chunk` got every chunk).
    private async serveNew(
        sessionAddress: Address,
        s: SessionState,
        request: InferenceRequest,
        requestBytes: number,
        requestId: string,
        requestHash: Buffer,
        stream?: { started: () => void; chunk: (c: CompletionChunk) => void },
    ): Promise<Buffer> {
        const prices: PriceRates = s.terms!.prices;
        await this.requireModel(request.model, prices);
        const sessionKey = sessionAddress.toRawString();
        // (read again after every await: another request of the session may have reserved meanwhile)
        const flightNow = () => this.flights.get(sessionKey) ?? { count: 0, reserved: 0n };

        // Never serve what the budget cannot pay: bound the prompt's tokens by its bytes (every
        // token is at least one byte), and cap the answer's length by what is left once the
        // latest receipt and the worst case of every other request in flight are counted.
        // A token of each part costs at most the dearer of its two classes.
        const bounds = requestTokenBounds(request, requestBytes);
        const choices = BigInt(request.n ?? 1);
        const promptPrice = max(prices.prompt, prices.cachedPrompt);
        const answerPrice = max(prices.completion, prices.reasoning);
        const promptCost = ceilDiv(bounds.promptTokens * promptPrice, 1_000_000n);
        // Answer tokens per choice that the budget left pays for (free answers: the default cap).
        const affordable = (budget: bigint) => {
            const left = budget - (this.o.meter.latestCounts(sessionAddress)?.amountDue ?? 0n) - flightNow().reserved - promptCost;
            if (left < 0n) return 0n;
            return answerPrice === 0n ? BigInt(DEFAULT_MAX_TOKENS) : (left * 1_000_000n) / answerPrice / choices;
        };
        let budget = s.budget;
        if (affordable(budget) < 1n) budget = (await this.session(sessionAddress, true)).budget; // a top-up may have landed
        // From here to the reservation nothing awaits: the checks see every other request's reservation.
        const flight = flightNow();
        if (flight.count >= this.o.maxConcurrentPerSession) {
            throw new WorkerRefusal(
                'session-busy',
                429,
                `this session already has ${flight.count} requests in flight (at most ${this.o.maxConcurrentPerSession}): retry when one is answered`,
            );
        }
        if (affordable(budget) < 1n) {
            throw new WorkerRefusal(
                'budget-exhausted',
                402,
                flight.count > 0
                    ? 'the session budget left is held for the requests in flight: wait for their answers, or top it up'
                    : 'the session budget is spent: top it up or open a new session',
            );
        }
        if (this.o.chain.now() >= s.deadline)
            throw new WorkerRefusal('deadline-passed', 409, 'the session deadline has passed: open a new session');
        const maxTokens = min(BigInt(requestedMaxTokens(request)), affordable(budget));
        const answerBound = maxTokens * choices;
        const reservation = promptCost + ceilDiv(answerBound * answerPrice, 1_000_000n);
        flight.count += 1;
        flight.reserved += reservation;
        this.flights.set(sessionKey, flight);
        const requestAt = this.o.chain.now();
        try {
            // The answer's length goes to the backend in the field the client used (both when
            // it used both; max_tokens when it used neither).
            // A text completion's is max_tokens, whichever the client used (backends read no other).
            const capped: InferenceRequest = isTextCompletionRequest(request)
                ? { ...request, max_completion_tokens: undefined, max_tokens: Number(maxTokens) }
                : {
                      ...request,
                      ...(request.max_completion_tokens != null ? { max_completion_tokens: Number(maxTokens) } : {}),
                      ...(request.max_tokens != null || request.max_completion_tokens == null ? { max_tokens: Number(maxTokens) } : {}),
                  };
            const produced: Produced = stream ? await this.streamed(capped, stream) : wholeAnswer(await this.o.backend.complete(capped));
            // Charge what the backend counted, within the bounds above; a part never exceeds its whole.
            const counted = tokenUsageOf(produced.usage);
            const promptTokens = min(counted.promptTokens, bounds.promptTokens);
            const completionTokens = min(counted.completionTokens, answerBound);
            const usage: TokenUsage = {
                promptTokens,
                cachedTokens: min(counted.cachedTokens, promptTokens),
                completionTokens,
                reasoningTokens: min(counted.reasoningTokens, completionTokens),
            };
            let plainAnswer = Buffer.alloc(0);
            const receipt = this.o.meter.record(sessionAddress, {
                openedAt: s.openedAt,
                key: this.keys.signing,
                prices,
                usage,
                requestAt,
                budget,
                resultDigest: createHash('sha256')
                    .update(JSON.stringify(produced.chunks ?? produced.whole!.choices))
                    .digest(),
                request: {
                    id: requestId,
                    hash: requestHash,
                    authenticate: (row) => this.rows.mac(requestRowBytes(row)),
                    answer: (r, charged) => {
                        const usage = usageObjectOf(charged, produced.usage);
                        const answer: SealedAnswer | StoredStream = produced.chunks
                            ? { chunks: produced.chunks, done: { usage, ...r.encoded } }
                            : { completion: { ...produced.whole!, usage }, ...r.encoded };
                        plainAnswer = Buffer.from(JSON.stringify(answer));
                        return this.answers.seal(plainAnswer, answerContext(sessionAddress, requestId, requestHash));
                    },
                },
            });
            this.remember(`${sessionKey}|${requestId}`);
            this.stats.tokens = addUsage(this.stats.tokens, usage);
            this.o.log.info(
                {
                    session: sessionAddress.toString(),
                    seqno: receipt.seqno,
                    promptTokens: usage.promptTokens,
                    completionTokens: usage.completionTokens,
                },
                'served',
            );
            return plainAnswer;
        } finally {
            flight.count -= 1;
            flight.reserved -= reservation;
            if (flight.count === 0 && this.flights.get(sessionKey) === flight) this.flights.delete(sessionKey);
        }
    }

    // The session as the chain has it, if it is this worker's (this provider, these enclave keys)
    // and the request comes from the client key it was opened with.
    private async sessionOfClient(sessionAddress: Address, envelope: RequestEnvelope): Promise<SessionState> {
        let s = await this.session(sessionAddress);
        if (!s.provider.equals(this.o.provider)) {
            throw new WorkerRefusal('other-provider', 409, `the session is with the Provider ${s.provider.toString()}, not this worker's`);
        }
        if (!(await this.isOwnSession(s))) {
            throw new WorkerRefusal(
                'not-a-session',
                404,
                `the account at ${sessionAddress.toString()} answers like a Session of this Provider but is not one: a Session's address is the one its code and initial data (Root, provider owner, client, nonce) give, and this one's is not`,
            );
        }
        if (!s.terms) s = await this.session(sessionAddress, true); // accepted since it was read
        if (!s.terms)
            throw new WorkerRefusal('session-not-open', 409, `the session is ${SESSION_STATUS_NAMES[s.status]}: it takes no requests`);
        if (s.terms.signingKey !== this.signingKey) {
            throw new WorkerRefusal(
                'previous-enclave-key',
                409,
                'the session was opened under an earlier enclave key of this provider (the worker restarted): close it and open a new session',
            );
        }
        if (clientKeyHashOf(Buffer.from(envelope.clientKey, 'base64')) !== s.clientKeyHash) {
            throw new WorkerRefusal('not-your-session', 403, 'the request is not from the session key this session was opened with');
        }
        return s;
    }

    // This worker's Provider as the chain has it now. Its Root and owner, which never change, are
    // kept from the first read that agrees with its address (every Session of it commits to them:
    // isOwnSession); an endpoint that answers otherwise is not believed.
    private async ownProvider() {
        const p = await readProvider(this.o.chain, this.o.provider);
        if (p && !this.providerIdentity && (await isProviderOf(p.root, p))) {
            this.providerIdentity = { root: p.root, owner: p.owner };
        }
        return p;
    }

    // Whether `s` is a Session of this Provider (isSessionOf), not a contract that only answers like
    // one: such a contract takes requests it never pays for, and claims and finalizes sent to it
    // spend the worker's TON. Once per session (a StateInit hash); the Provider's Root and owner are
    // read once.
    private async isOwnSession(s: SessionState): Promise<boolean> {
        const key = s.address.toRawString();
        if (this.ownSessions.has(key)) return true;
        if (!this.providerIdentity) {
            const p = await this.ownProvider();
            if (!p) throw new Error(`no Provider at ${this.o.provider.toString()}: register it first (scripts/registerProvider)`);
            if (!this.providerIdentity) {
                throw new Error(
                    `the Provider at ${this.o.provider.toString()} reads as having Root ${p.root.toString()} and owner ${p.owner.toString()}, which give another address: an endpoint answers wrongly, or this is not a Provider of Cocoon's code`,
                );
            }
        }
        if (!(await isSessionOf(this.providerIdentity, s))) return false;
        this.ownSessions.add(key);
        if (this.ownSessions.size > SESSION_CACHE_SIZE) this.ownSessions.delete(this.ownSessions.values().next().value!);
        return true;
    }

    // A new request is served only while the session is open and before its deadline.
    private requireOpen(s: SessionState) {
        if (s.status !== Number(SESSION_OPEN)) {
            throw new WorkerRefusal('session-not-open', 409, `the session is ${SESSION_STATUS_NAMES[s.status]}: it takes no requests`);
        }
        if (this.o.chain.now() >= s.deadline) {
            throw new WorkerRefusal('deadline-passed', 409, 'the session deadline has passed: open a new session');
        }
    }

    private async open(sessionAddress: Address, envelope: RequestEnvelope) {
        let opened;
        try {
            opened = await openRequest(this.keys.encryption, sessionAddress, envelope);
        } catch (e) {
            if (e instanceof DecryptionError) throw new WorkerRefusal('undecryptable', 400, e.message);
            throw e;
        }
        return opened;
    }

    private async requireModel(model: string, prices: PriceRates) {
        if (!this.o.models.includes(model)) {
            throw new WorkerRefusal('model-not-served', 400, `this worker serves only ${this.o.models.join(', ')}`);
        }
        const offer = offerFor(await this.listing(), model);
        if (!offer || PRICE_FIELDS.some((f) => offer.prices[f] !== prices[f])) {
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
    // with `force`). Sessions over on-chain are marked settled; abandoned ones are finalized.
    // A session with no receipt claimed yet is always due: its first claim acknowledges it.
    async claimDue(force = false, only?: Address[]): Promise<{ session: Address; seqno: number; amountDue: bigint }[]> {
        const read = await this.readForPass(only ?? this.o.meter.unsettled());
        let failure = read.failure;
        const finalizes: Outgoing[] = [];
        const claims: Claim[] = [];
        for (const [address, s] of read.states) {
            try {
                if (s && !(await this.isOwnSession(s))) {
                    // (recorded by an earlier release, which served it: never claimed or finalized)
                    this.o.log.error(
                        { session: address.toString() },
                        'not a Session of this Provider (a contract that answers like one): dropped',
                    );
                    this.doneWith(address);
                    continue;
                }
                const next = this.nextMessage(address, s, force);
                if (next && 'latest' in next) claims.push(next);
                else if (next) finalizes.push(next);
            } catch (e) {
                failure ??= e; // (this session's records: the others go on)
            }
        }
        // The pass's messages go out together, in as few wallet transfers as the wallet allows:
        // claims first, the most urgent (the earliest end of window) first, so that a wallet
        // short of funds spends them on claims (an acknowledgement missed is a timeout slash).
        claims.sort((a, b) => a.windowEnd - b.windowEnd);
        const sent = await this.sendAll([...claims, ...finalizes]);
        for (const [i, f] of finalizes.entries()) {
            const error = sent[claims.length + i];
            if (error)
                this.o.log.warn({ session: f.to.toString(), err: error.message }, 'finalizing an abandoned session failed; retried later');
        }
        failure ??= sent.slice(0, claims.length).find((e) => e); // (a finalize that failed is tried again later)

        // Then every message sent is looked for on-chain (a claim's seqno, a finalized Session),
        // a bounded number of reads at a time: a message the wallet could not pay for went
        // nowhere, and the transfer landed all the same.
        const toConfirm: { message: Outgoing; done: (s: SessionState) => boolean }[] = [
            ...claims.filter((_, i) => !sent[i]).map((c) => ({ message: c, done: (s: SessionState) => s.seqno >= c.latest.seqno })),
            ...finalizes
                .filter((_, i) => !sent[claims.length + i])
                .map((f) => ({ message: f, done: (s: SessionState) => s.status === Number(SESSION_FINALIZED) })),
        ];
        const seen = await this.seenOnChain(toConfirm);
        this.stats.abandonedFinalizes += finalizes.filter((f) => seen.has(f)).length;
        const claimed: { session: Address; seqno: number; amountDue: bigint }[] = [];
        for (const c of claims.filter((c) => seen.has(c))) {
            this.lastClaimAt.set(c.to.toRawString(), c.now);
            this.stats.claims += 1;
            claimed.push({ session: c.to, seqno: c.latest.seqno, amountDue: c.latest.amountDue });
            this.o.log.info({ session: c.to.toString(), seqno: c.latest.seqno, amountDue: c.latest.amountDue.toString() }, 'claimed');
        }
        if (failure) throw failure;
        return claimed;
    }

    // The states of `addresses` for a claim pass, a bounded number of reads at a time (each is a
    // chain round trip), with the first read's error if any failed. One that cannot be read is
    // left out (the others' claims go on) and read last on the next pass, so that accounts that
    // keep failing never hold up the others; when the first reads all fail (the chain is down)
    // the rest are not tried.
    private async readForPass(addresses: Address[]) {
        const order = [...addresses].sort(
            (a, b) => Number(this.unreadLastPass.has(a.toRawString())) - Number(this.unreadLastPass.has(b.toRawString())),
        );
        let failure: unknown;
        let [failed, read] = [0, 0];
        const states = await mapBounded(order, CHAIN_READS_AT_ONCE, async (address) => {
            if (failed >= CHAIN_READS_AT_ONCE && read === 0) return undefined;
            try {
                const s = await readSession(this.o.chain, address);
                read += 1;
                this.unreadLastPass.delete(address.toRawString());
                return s;
            } catch (e) {
                failure ??= e;
                failed += 1;
                this.unreadLastPass.add(address.toRawString());
                return undefined;
            }
        });
        return {
            states: order
                .map((a, i) => [a, states[i]] as const)
                .filter((e): e is readonly [Address, SessionState | null] => e[1] !== undefined),
            failure,
        };
    }

    // Which of the messages sent show on-chain (`done` of their Session's state) within the
    // confirmation time, reading a bounded number at a time; the others are logged in one line
    // (a wallet out of funds or a chain that is down would otherwise log one per session).
    private async seenOnChain(sent: { message: Outgoing; done: (s: SessionState) => boolean }[]): Promise<Set<Outgoing>> {
        const seen = new Set<Outgoing>();
        let unreadable: unknown;
        await waitFor(async () => {
            const left = sent.filter((c) => !seen.has(c.message));
            await mapBounded(left, CHAIN_READS_AT_ONCE, async (c) => {
                const now = await readSession(this.o.chain, c.message.to).catch((e: unknown) => void (unreadable = e));
                if (now && c.done(now)) seen.add(c.message);
            });
            return seen.size === sent.length ? true : undefined;
        }, this.o.confirmTimeoutMs);
        const unseen = sent.filter((c) => !seen.has(c.message)).map((c) => c.message);
        if (unseen.length > 0) {
            this.o.log.error(
                {
                    messages: unseen.slice(0, 10).map((m) => m.what),
                    count: unseen.length,
                    ...(unreadable ? { lastReadError: (unreadable as Error).message } : {}),
                },
                "messages sent but not seen on-chain in time (the worker wallet may lack funds, or the chain's endpoints lag): retried on the next pass",
            );
        }
        return seen;
    }

    // What the pass sends for this session now: its claim, the finalize of a session its client
    // left open, or nothing (a session done with is dropped from the passes here).
    private nextMessage(address: Address, s: SessionState | null, force: boolean): Claim | Outgoing | undefined {
        if (!s) {
            // A Session this worker served is never deleted (a finalized one stays as a
            // tombstone): an endpoint that does not see it yet. Settling it here would lose its
            // receipts.
            this.o.log.warn({ session: address.toString() }, 'the session reads as absent (an endpoint behind?): kept');
            return undefined;
        }
        if (s.status === Number(SESSION_FINALIZED)) {
            this.doneWith(address);
            return undefined;
        }
        if (this.abandoned(s)) return this.abandonedFinalize(address, s);
        if (s.status === Number(SESSION_RELEASE_FAILED)) {
            this.doneWith(address); // settled, claims over: this worker does not retry its release
            return undefined;
        }
        // The latest receipt the Session pays: none of its requests accepted after the close or
        // the deadline (one accepted while this worker had not seen the close yet is not paid).
        const end = servingEnd(s.status, s.deadline, s.closedAt);
        const latest = s.terms && this.payableReceipt(address, s, end);
        if (!latest || latest.seqno <= s.seqno || !s.terms) {
            // All claimed: once the window is over, a session this worker will not finalize
            // needs nothing more from it (and is no longer read on every pass).
            if (this.windowOverBy(s, 0) && !this.finalizeWorthIt(s)) this.doneWith(address);
            return undefined;
        }
        const now = this.o.chain.now();
        const windowEnd = claimWindowEnd(s.status, s.deadline, s.closedAt, Number(s.terms.closeGracePeriod));
        // The Session refuses a claim after its window, by the chain's clock. When this machine's
        // clock says the window is over but the newest block says there is time left (a clock
        // running ahead), the claim is tried once before the receipt is given up.
        const late = now > windowEnd;
        if (late) {
            const blockTime = this.o.chain.latestBlockTime?.();
            const key = address.toRawString();
            if (this.givenUp.has(key)) {
                // (nothing ever claimed, long after the window: the worker will not finalize a timeout)
                if (s.seqno === 0 && this.windowOverBy(s, this.o.claim.finalizeAbandonedAfterSeconds!)) this.doneWith(address);
                return undefined;
            }
            if (blockTime === undefined || blockTime > windowEnd - LATE_CLAIM_MARGIN_SECONDS || this.lateClaims.has(key)) {
                this.o.log.error(
                    { session: address.toString(), seqno: latest.seqno },
                    'claim window over before the latest receipt was claimed',
                );
                // Kept while it may still need finalizing (abandoned), else done with. (Whatever
                // seqno this read shows: one from an endpoint behind may be lower than the chain's.)
                if (this.finalizeWorthIt(s)) this.givenUp.add(key);
                else this.doneWith(address);
                this.lateClaims.delete(key);
                return undefined;
            }
            this.lateClaims.add(key);
            this.o.log.warn(
                { session: address.toString(), seqno: latest.seqno, machineClock: now, newestBlock: blockTime, windowEnd },
                "this machine's clock is past the claim window and the chain's newest block is not: claiming once (check the machine's clock)",
            );
        }
        const due =
            force ||
            late ||
            s.seqno === 0 ||
            s.status === Number(SESSION_CLOSING) ||
            latest.amountDue - s.claimed >= this.o.claim.minAmount ||
            now - this.claimClock(address, now) >= this.o.claim.intervalSeconds ||
            s.deadline - now <= this.o.claim.deadlineMarginSeconds;
        if (!due) return undefined;
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
        return {
            to: address,
            value: CLAIM_VALUE,
            body,
            what: `claim receipt #${latest.seqno} of ${address.toString()}`,
            latest,
            now,
            windowEnd,
        };
    }

    // Whether this worker finalizes the session if its client leaves it open and something was
    // claimed: when the policy says so and its collateral is worth releasing, more than twice what
    // the finalize costs (so that clients who open small sessions to abandon them cost the worker
    // less than the stake it gets back).
    private finalizeWorthIt(s: SessionState): boolean {
        if (this.o.claim.finalizeAbandonedAfterSeconds === null || !s.terms) return false;
        return loadSessionSettlement(s.terms.settlement.beginParse()).collateral > 2n * FINALIZE_ABANDONED_VALUE;
    }

    // Whether the session's claim window ended more than `seconds` ago by both this machine's
    // clock and the chain's newest block (the Session judges by its own clock).
    private windowOverBy(s: SessionState, seconds: number): boolean {
        if (!s.terms) return false;
        const windowEnd = claimWindowEnd(s.status, s.deadline, s.closedAt, Number(s.terms.closeGracePeriod));
        return Math.min(this.o.chain.now(), this.o.chain.latestBlockTime?.() ?? Infinity) > windowEnd + seconds;
    }

    // Whether this worker finalizes the session now: its client left it open long past its claim
    // window, or its collateral release bounced (settled: claims are over). Never one with nothing
    // claimed: that finalize is a timeout, which slashes the Provider's collateral.
    private abandoned(s: SessionState): boolean {
        if (s.seqno === 0 || !this.finalizeWorthIt(s)) return false;
        if (s.status === Number(SESSION_RELEASE_FAILED)) return true;
        const open = s.status === Number(SESSION_OPEN) || s.status === Number(SESSION_CLOSING);
        return open && this.windowOverBy(s, this.o.claim.finalizeAbandonedAfterSeconds!);
    }

    // The FinalizeSession of a session its client left open, so that the Provider's collateral for
    // it is released (and the client refunded), if an attempt is due now: sent with the pass's
    // claims and not waited for (the next pass sees it finalized). A failure is logged and never
    // stops the claims of the pass.
    private abandonedFinalize(address: Address, s: SessionState): Outgoing | undefined {
        const key = address.toRawString();
        const session = address.toString();
        const now = this.o.chain.now();
        const tried = this.finalizeAttempts.get(key) ?? { at: -Infinity, count: 0 };
        if (tried.count >= FINALIZE_ATTEMPTS || now - tried.at < FINALIZE_RETRY_SECONDS * 2 ** (tried.count - 1)) return undefined;
        this.finalizeAttempts.set(key, { at: now, count: tried.count + 1 });
        if (tried.count + 1 === FINALIZE_ATTEMPTS) {
            this.o.log.error({ session }, 'finalizing an abandoned session: last attempt; after it the session is left to its client');
        }
        this.o.log.info(
            { session, status: SESSION_STATUS_NAMES[s.status], claimed: s.claimed.toString() },
            'finalizing a session its client left open past its claim window (its collateral is released)',
        );
        const body = beginCell()
            .store(storeFinalizeSession({ $$type: 'FinalizeSession', queryId: 0n }))
            .endCell();
        return { to: address, value: FINALIZE_ABANDONED_VALUE, body, what: 'finalize an abandoned session' };
    }

    // The session needs nothing more from this worker: its records are trimmed and it is no longer read.
    private doneWith(address: Address) {
        this.o.meter.markSettled(address);
        const key = address.toRawString();
        this.lateClaims.delete(key);
        this.givenUp.delete(key);
        this.finalizeAttempts.delete(key);
        this.lastClaimAt.delete(key);
    }

    // The latest receipt of a session that counts no request accepted after `end`. Receipts are
    // signed in the order answers finish, so a request accepted after the close but answered first
    // would leave a request accepted before it counted only in later, unpayable receipts: then a
    // settlement receipt counts exactly the requests accepted by `end`, from the request log rows
    // this enclave authenticated.
    private payableReceipt(address: Address, s: SessionState, end: number) {
        const claimable = this.o.meter.claimable(address, end);
        if ((this.o.meter.latestCounts(address)?.lastRequestAt ?? 0) <= end) return claimable;
        const payable = this.o.meter.settlementUsage(address, end, (row, mac) => this.rows.verify(requestRowBytes(row), mac));
        if (claimable && TOKEN_FIELDS.every((f) => payable.usage[f] <= claimable[f])) return claimable;
        this.o.log.info(
            { session: address.toString(), end },
            'a request accepted after the close was answered first: signing a settlement receipt',
        );
        return this.o.meter.recordSettlement(address, {
            openedAt: s.openedAt,
            key: this.keys.signing,
            prices: s.terms!.prices,
            ...payable,
        });
    }

    // Acknowledges every session this Provider accepted under this worker's key that has no
    // receipt claimed yet: a zero receipt, claimed at once. A session with no receipt claimed by
    // the end of its claim window is a timeout and costs the provider collateral, whatever the
    // client did; the acknowledgement shows the enclave was there. Sessions are found in the
    // Provider's transactions (each acceptance answers a LockCollateral from the Session).
    //
    // The Provider's acceptance shows before the Session has taken it (the SessionAccepted message
    // is on its way): a session that still reads as opening, or not at all (an endpoint behind), is
    // looked at again on the next scan, which starts again at its transaction (the sessions after
    // it are acknowledged again, which changes nothing). Only one whose opening could have been
    // cancelled since (older than OPENING_TIMEOUT and a margin) is passed over, with an error line.
    async acknowledgeNewSessions(): Promise<Address[]> {
        const transactions = await onChain(this.o.chain, "read the Provider's transactions", () =>
            this.o.chain.transactions(this.o.provider, this.o.meter.scannedLt()),
        );
        const acknowledged: Address[] = [];
        let waitingFrom: bigint | undefined; // the lt of the first acceptance the Session has not taken yet
        for (const tx of transactions) {
            const session = acceptedSession(tx);
            if (session) {
                const s = await readSession(this.o.chain, session);
                const taken = s && s.status !== Number(SESSION_OPENING);
                if (
                    s &&
                    (s.status === Number(SESSION_OPEN) || s.status === Number(SESSION_CLOSING)) &&
                    s.seqno === 0 &&
                    s.terms?.signingKey === this.signingKey
                ) {
                    const prices = s.terms.prices;
                    this.o.meter.acknowledge(session, s.openedAt, this.keys.signing, prices);
                    acknowledged.push(session);
                } else if (!taken && waitingFrom === undefined) {
                    if (this.o.chain.now() - tx.now <= Number(OPENING_TIMEOUT) + ACCEPTANCE_WAIT_MARGIN_SECONDS) waitingFrom = tx.lt;
                    else
                        this.o.log.error(
                            { session: session.toString(), status: s ? SESSION_STATUS_NAMES[s.status] : 'absent' },
                            'a session this Provider accepted long ago still does not read as open: not acknowledged',
                        );
                }
            }
            if (waitingFrom === undefined) this.o.meter.setScannedLt(tx.lt);
        }
        if (waitingFrom !== undefined) this.o.meter.setScannedLt(waitingFrom - 1n);
        if (acknowledged.length > 0) await this.claimDue(false, acknowledged);
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
        this.o.meter.expireAnswers(Math.floor(Date.now() / 1000) - this.o.answerRetentionSeconds);
    }

    // Wallet sends are serialized: a wallet accepts one seqno at a time.
    private send(to: Address, value: bigint, body: Cell, what: string) {
        return this.queueSend(what, (sender) => sender.send({ to, value, body, bounce: true }));
    }

    // Sends `messages` in as few transfers as the wallet allows (one message each when the sender
    // cannot batch); the error of each message's transfer, if it failed. The wallet ignores the
    // error of a message (IGNORE_ERRORS): one it cannot pay for does not keep the others of its
    // transfer from going, and the transfer lands (its seqno moves) either way, so that it cannot
    // be replayed; what was not sent is seen unconfirmed, and tried again on the next pass.
    private async sendAll(messages: Outgoing[]): Promise<(Error | undefined)[]> {
        const sender = this.o.sender;
        const size = isBatchSender(sender) ? sender.maxMessages : 1;
        const sendMode = SendMode.PAY_GAS_SEPARATELY + SendMode.IGNORE_ERRORS;
        const errors: (Error | undefined)[] = [];
        for (let i = 0; i < messages.length; i += size) {
            const batch = messages.slice(i, i + size);
            const args = batch.map((m) => ({ to: m.to, value: m.value, body: m.body, bounce: true, sendMode }));
            const what = batch.length === 1 ? batch[0].what : `send ${batch.length} messages (${batch[0].what}, ...)`;
            try {
                await this.queueSend(what, (s) => (batch.length > 1 && isBatchSender(s) ? s.sendMany(args) : s.send(args[0])));
                errors.push(...batch.map(() => undefined));
            } catch (e) {
                errors.push(...batch.map(() => e as Error));
            }
        }
        return errors;
    }

    private queueSend(what: string, send: (sender: Sender) => Promise<void>) {
        const next = this.sends.then(() => onChain(this.o.chain, what, () => send(this.o.sender)));
        this.sends = next.catch(() => undefined);
        return next;
    }
}

// A message of the worker's wallet: a claim, a finalize.
interface Outgoing {
    to: Address;
    value: bigint;
    body: Cell;
    what: string; // for errors: "claim receipt #12 of EQ..."
}

// A claim of a pass: the receipt it claims, when it was decided, and when its window ends.
interface Claim extends Outgoing {
    latest: SignedReceipt;
    now: number;
    windowEnd: number;
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

// Envelopes remembered against replays: more than a busy worker opens in the lifetime of a
// replayed envelope's usefulness (about 100 bytes each, 20 MB at most).
const SEEN_ENVELOPES = 200_000;

function parseRequest(plaintext: Buffer): InferenceRequest {
    try {
        return parseInferenceRequest(JSON.parse(plaintext.toString('utf8')));
    } catch (e) {
        // Refusals travel unencrypted: name the fields and the kind of problem, never a value
        // (zod's messages may quote what was received).
        const detail =
            e instanceof SyntaxError
                ? 'not JSON'
                : (e as { issues?: { path: unknown[]; code: string; message: string }[] }).issues
                      // (a custom issue's message is the worker's own words, never the request's)
                      ?.map((i) => `${i.path.join('.') || 'body'}: ${i.code === 'custom' ? i.message : i.code}`)
                      .join('; ');
        throw new WorkerRefusal('bad-request', 400, `the decrypted request is not a chat or text completion request (${detail})`);
    }
}

const min = (a: bigint, b: bigint) => (a < b ? a : b);
const max = (a: bigint, b: bigint) => (a > b ? a : b);
const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

// What the backend produced for a request: a whole completion, or a stream's chunks, and the
// usage it counted.
interface Produced {
    usage: UsageObject;
    whole?: Completion;
    chunks?: CompletionChunk[];
}

const wholeAnswer = (c: Completion): Produced => ({ usage: c.usage, whole: c });

// What the worker answers a chat request with: a whole sealed answer, or an encrypted stream.
export type ChatReply = { kind: 'whole'; envelope: ResponseEnvelope } | { kind: 'stream'; frames: AsyncIterable<StreamFrame> };

// The payloads of a stream as encrypted frames; the last payload (a `done` or `failed` one) ends it.
// A stream being produced, for its first reader and for retries that arrive meanwhile: each
// reader gets every payload so far, then the rest as they come, then the end.
class LiveStream {
    private history: StreamFramePayload[] = [];
    private readers: AsyncQueue<StreamFramePayload>[] = [];
    private ended = false;

    push(payload: StreamFramePayload) {
        this.history.push(payload);
        for (const r of this.readers) r.push(payload);
    }

    end() {
        this.ended = true;
        for (const r of this.readers) r.end();
        this.readers = [];
    }

    reader(): AsyncQueue<StreamFramePayload> {
        const q = new AsyncQueue<StreamFramePayload>();
        for (const p of this.history) q.push(p);
        if (this.ended) q.end();
        else this.readers.push(q);
        return q;
    }
}

async function* sealFrames(payloads: AsyncQueue<StreamFramePayload>, sealer: StreamSealer): AsyncIterable<StreamFrame> {
    for await (const payload of payloads) yield sealer.seal(Buffer.from(JSON.stringify(payload)), !('chunk' in payload));
}
