// The client SDK: find providers on the chain, open an escrowed session, check the provider's
// attestation on-chain before every request, talk to its worker end-to-end encrypted, check every
// receipt, top up, close and collect the refund. Failures a caller can handle are CocoonError
// (with a `code`) or ReceiptRejected (a worker that misreports usage).
import { Address, Cell, Sender, beginCell, fromNano } from '@ton/core';
import { createHash, randomBytes } from 'crypto';
import {
    Attestation,
    bigIntToBuffer32,
    bufferToBigInt,
    CLOSE_VALUE,
    FINALIZE_VALUE,
    Provider,
    PriceRates,
    PRICE_FIELDS,
    ReceiptFields,
    Root,
    SESSION_CLOSING,
    SESSION_FINALIZED,
    SESSION_OPEN,
    SESSION_OPENING,
    OPENING_TIMEOUT,
    SESSION_OPEN_OVERHEAD,
    SESSION_STATUS_NAMES,
    STATUS_ACTIVE,
    GLOBAL_ID_MAINNET,
    TCB_SIMULATED,
    TCB_UP_TO_DATE,
    TCB_STATUS_NAMES,
    PROVIDER_STATUS_NAMES,
    claimWindowEnd,
    clientKeyHashOf,
    modelKey,
    sessionFor,
    storeCloseSession,
    storeFinalizeSession,
    storeOpenSession,
    storeTopUpSession,
} from '../wrappers';
import { ChainAccess, onChain, waitFor } from '../protocol/chain';
import { postForStream } from '../protocol/http-post';
import { randomNonce } from '../protocol/aead';
import { AsyncQueue } from '../protocol/async-queue';
import type { AttestationRequest } from '../protocol/evidence';
import { attestRequestSchema } from '../protocol/verifier-api';
import { SessionKey, StreamOpener, generateEncryptionKeyPair, sealRequest } from '../protocol/encryption';
import { Outstanding, ReceiptRejected, ReceiptTracker } from './receipts';
import { ProviderDirectory, mapBounded } from './discovery';
import { ProviderState, SessionState, isProviderOf, isSessionOf, offerFor, readProvider, readSession } from '../protocol/state';
import {
    ChatCompletion,
    ChatCompletionChunk,
    ChatRequest,
    Completion,
    CompletionChunk,
    InferenceRequest,
    StreamFramePayload,
    TextCompletion,
    TextCompletionChunk,
    TextCompletionRequest,
    UsageObject,
    streamFramePayloadSchema,
    streamFrameSchema,
    MAX_REQUEST_BYTES,
    isTextCompletionRequest,
    parseInferenceRequest,
    requestTokenBounds,
    tokenUsageOf,
    responseEnvelopeSchema,
    sealedAnswerSchema,
    workerErrorSchema,
} from '../protocol/worker-api';

/** What a CocoonError is about: the code a caller branches on. */
export type CocoonErrorCode =
    | 'provider-not-found'
    | 'foreign-provider'
    | 'provider-unavailable'
    | 'model-not-listed'
    | 'model-not-attested'
    | 'not-attested'
    | 'attestation-expired'
    | 'attestation-mismatch'
    | 'measurement-withdrawn'
    | 'tcb-not-accepted'
    | 'verifier-set-changed'
    | 'evidence-unavailable'
    | 'evidence-mismatch'
    | 'evidence-rejected'
    | 'budget-too-small'
    | 'insufficient-collateral'
    | 'invalid-duration'
    | 'session-refused'
    | 'session-not-open'
    | 'not-a-session'
    | 'not-confirmed'
    | 'too-early'
    | 'worker-unreachable'
    | 'worker-refused'
    | 'bad-answer'
    | 'rejected-by-model'
    | 'bad-request'
    | 'answer-broken'
    | 'stopped';

/**
 * A failure of the SDK that a caller can handle: `code` says what it is, the message what to do. `maybeServed` says
 * whether a failed request may still have been served and charged.
 */
export class CocoonError extends Error {
    constructor(
        readonly code: CocoonErrorCode,
        message: string,
        readonly detail?: string, // for 'worker-refused': the worker's error code (protocol/worker-api.ts); 'not-connected' for a worker never reached
    ) {
        super(message);
        this.name = 'CocoonError';
    }

    // For a chat request that failed: whether the worker may have served it (its answer lost on
    // the way) and may charge it. Asking another provider then could pay for it twice; retrying
    // under the same request id gets the stored answer, charged once.
    maybeServed = false;

    // For 'provider-unavailable': when a provider is expected back, in seconds (a gateway's Retry-After).
    retryAfterSeconds?: number;
}

/** What a CocoonClient works with (chain, paying wallet, Root) and how it checks providers and retries; defaults as noted. */
export interface ClientOptions {
    chain: ChainAccess;
    wallet: Sender & { address: Address }; // pays budgets and fees; receives refunds
    root: Address;
    confirmTimeoutMs?: number; // waiting for a sent message to show on-chain (default 90 s)
    attestationMarginSeconds?: number; // refuse a provider whose attestation ends sooner (default 60)
    requestTimeoutMs?: number; // one chat request (default 120 s)
    // How long what Root says is reused (default 60 s): its verifier set's epoch and which
    // measurements it allowlists. Both change only through timelocked governance, and a
    // restricting change ends attestations when it executes. The provider itself (status,
    // attestation, revocation, jail) is read before every request.
    attestationCheckMs?: number;
    // How long a read of the provider itself (status, attestation) is reused (default 0: read before
    // every request). A few seconds saves two chain reads per request, at the price of requests that
    // may still reach a provider revoked, jailed or paused within that window.
    providerCheckMs?: number;
    // TCB statuses (TCB_* in wrappers) the client accepts in a provider's attestation, whatever the
    // verifiers accepted (default: UpToDate only, as the verifiers' default policy). TCB_SIMULATED
    // (development, no TEE) is refused on mainnet even if listed here.
    acceptedTcbStatuses?: number[];
    // Accept an attestation signed under an earlier verifier set than Root's current one (default
    // false: the worker re-attests when the set changes; see docs/security.md).
    acceptEarlierVerifierEpochs?: boolean;
    // Requests of one session sent at once (default 8, the worker's default limit); more wait.
    maxConcurrentRequests?: number;
    // Further tries of a request that got no answer or a transient failure, under the same request
    // id (default 3; the worker serves and charges a request id once).
    retries?: number;
    // Chain reads and worker health checks at a time when finding providers (default 8).
    readConcurrency?: number;
}

/** A provider's own state as every request checks it (CocoonClient.providerCheck). */
export interface ProviderCheck {
    attestation: Attestation | null;
    status: bigint;
}

/**
 * A provider that can serve a model now, as findProviders and discover offer it: its worker's endpoint, prices per
 * million tokens, attestation, free stake, GPUs, record and health.
 */
export interface ProviderOffer {
    provider: Address;
    endpoint: string;
    model: string;
    modelHash: Buffer; // the model's identity, as listed and as attested (worker model-hash)
    prices: PriceRates;
    attestedUntil: number;
    freeStake: bigint;
    gpuModel: string;
    gpuCount: number;
    // Its record (ProviderStats): sessions served, and the incidents that cost it stake.
    record: { sessionsServed: number; slashCount: number; timeoutCount: number; jailCount: number };
    // How long its worker's GET /health took (ms), or null when it did not answer 200 in time.
    healthMs: number | null;
}

/** Which providers findProviders and discover offer (the model, price limits, budget, attestation, health) and in what order. */
export interface FindOptions {
    model: string;
    maxPrices?: Partial<PriceRates>; // the most to pay per million tokens of a class (nanotons)
    budget?: bigint; // only providers with enough free stake to lock collateral for it
    modelHash?: Buffer; // only providers whose listed and attested model is this one (the hash of the weights you expect)
    attestedForSeconds?: number; // only providers attested at least this much longer
    healthTimeoutMs?: number; // how long a worker's GET /health may take (default 2 s)
    includeUnhealthy?: boolean; // keep providers whose worker did not answer /health (default false)
    // The order offers come in (default: byPriceThenRecord): the first is the one to try first.
    order?: (a: ProviderOffer, b: ProviderOffer) => number;
}

/**
 * The default order of offers: cheapest completion, prompt, reasoning and cached prompt tokens (in
 * that order, the usual weight of each in a bill), then the fewest incidents
 * (slashes, timeouts, jails), then the attestation that lasts longest, then the fastest /health.
 */
export function byPriceThenRecord(a: ProviderOffer, b: ProviderOffer): number {
    const incidents = (o: ProviderOffer) => o.record.slashCount + o.record.timeoutCount + o.record.jailCount;
    return (
        compare(a.prices.completion, b.prices.completion) ||
        compare(a.prices.prompt, b.prices.prompt) ||
        compare(a.prices.reasoning, b.prices.reasoning) ||
        compare(a.prices.cachedPrompt, b.prices.cachedPrompt) ||
        incidents(a) - incidents(b) ||
        b.attestedUntil - a.attestedUntil ||
        (a.healthMs ?? Infinity) - (b.healthMs ?? Infinity)
    );
}

const compare = (x: bigint, y: bigint) => (x < y ? -1 : x > y ? 1 : 0);

// Reads a client keeps (CocoonClient.reused): Root's few, and one per provider it has sessions with.
const READS_KEPT = 256;

/**
 * The SDK's entry point for one wallet under one Root: finds providers, opens, resumes and settles sessions (ClientSession),
 * and checks a provider's status and attestation against Root.
 */
export class CocoonClient {
    readonly confirmTimeoutMs: number;
    readonly margin: number;

    // Chain reads reused for a while (Root's for attestationCheckMs, a provider's for
    // providerCheckMs), by what they read, shared by all of this client's sessions: fifty sessions
    // with one provider make one read per window, not fifty. A read under way is joined, not
    // repeated; a failed one is not kept.
    private reads = new Map<string, { at: number; value: Promise<unknown> }>();

    private reused<T>(key: string, reuseMs: number, what: string, read: () => Promise<T>): Promise<T> {
        const kept = this.reads.get(key);
        if (kept && Date.now() - kept.at < reuseMs) return kept.value as Promise<T>;
        const value = onChain(this.o.chain, what, read);
        if (reuseMs <= 0) return value;
        const entry = { at: Date.now(), value };
        this.reads.delete(key); // (re-inserted last: past the bound, the oldest goes first)
        this.reads.set(key, entry);
        if (this.reads.size > READS_KEPT) this.reads.delete(this.reads.keys().next().value!);
        value.catch(() => this.reads.get(key) === entry && this.reads.delete(key));
        return value;
    }

    // A read of Root's state, reused for attestationCheckMs (see ClientOptions).
    private fromRoot<T>(key: string, read: () => Promise<T>): Promise<T> {
        return this.reused(`root:${key}`, this.o.attestationCheckMs ?? 60_000, `read Root's ${key.split(':')[0]}`, read);
    }

    async rootGlobalId(): Promise<number> {
        return this.fromRoot('global id', async () => Number(await this.o.chain.open(Root.fromAddress(this.o.root)).getGlobalId()));
    }

    async verifierEpoch(): Promise<bigint> {
        return this.fromRoot('verifier set', async () => (await this.o.chain.open(Root.fromAddress(this.o.root)).getVerifierSet()).epoch);
    }

    async isMeasurementAllowed(measurement: bigint): Promise<boolean> {
        return this.fromRoot(`measurement allowlist:${measurement}`, () =>
            this.o.chain.open(Root.fromAddress(this.o.root)).getIsMeasurementAllowed(measurement),
        );
    }

    // The provider's own state (status, attestation), as every request checks it: read anew unless
    // providerCheckMs reuses it (see ClientOptions).
    providerCheck(provider: Address): Promise<ProviderCheck> {
        return this.reused(`provider:${provider.toRawString()}`, this.o.providerCheckMs ?? 0, 'read the provider attestation', async () => {
            const contract = this.o.chain.open(Provider.fromAddress(provider));
            const [attestation, status] = await Promise.all([contract.getAttestation(), contract.getStatus()]);
            return { attestation, status };
        });
    }

    // The next providerCheck of this provider reads the chain again.
    forgetProviderCheck(provider: Address) {
        this.reads.delete(`provider:${provider.toRawString()}`);
    }

    constructor(readonly o: ClientOptions) {
        this.confirmTimeoutMs = o.confirmTimeoutMs ?? 90_000;
        this.margin = o.attestationMarginSeconds ?? 60;
    }

    // Every provider registered under this client's Root (discovery.ts: Root's index, read a
    // bounded number at a time and kept), offered as findProviders offers them.
    async discover(f: FindOptions): Promise<ProviderOffer[]> {
        this.directory ??= new ProviderDirectory(this.o.chain, this.o.root, { concurrency: this.o.readConcurrency });
        return this.findProviders(await this.directory.providers(), f);
    }

    private directory: ProviderDirectory | undefined;

    // The candidates that are active, attested, list `model` within the price limits and whose
    // worker answers GET /health, best first (FindOptions.order). Providers are read and their
    // workers asked a bounded number at a time (readConcurrency).
    async findProviders(candidates: Address[], f: FindOptions): Promise<ProviderOffer[]> {
        const now = this.o.chain.now();
        const margin = Math.max(this.margin, f.attestedForSeconds ?? 0);
        const read = await mapBounded(candidates, this.o.readConcurrency ?? 8, async (address): Promise<ProviderOffer | null> => {
            const p = await readProvider(this.o.chain, address).catch(() => null);
            if (!p || !(await isProviderOf(this.o.root, p))) return null;
            if (sessionOpeningProblem(p, { model: f.model, budget: f.budget, modelHash: f.modelHash }, now, margin)) return null;
            if (await this.trustProblem(p).catch(() => true)) return null;
            const offer = offerFor(p.listing, f.model)!;
            if (PRICE_FIELDS.some((c) => (f.maxPrices?.[c] ?? offer.prices[c]) < offer.prices[c])) return null;
            const healthMs = await workerHealth(p.listing!.endpoint, f.healthTimeoutMs ?? 2000);
            if (healthMs === null && !f.includeUnhealthy) return null;
            return {
                provider: address,
                endpoint: p.listing!.endpoint,
                model: f.model,
                modelHash: bigIntToBuffer32(offer.modelHash),
                prices: offer.prices,
                attestedUntil: Number(p.attestation!.validUntil),
                freeStake: p.freeStake,
                gpuModel: p.listing!.gpuModel,
                gpuCount: Number(p.listing!.gpuCount),
                record: {
                    sessionsServed: Number(p.stats.sessionsServed),
                    slashCount: Number(p.stats.slashCount),
                    timeoutCount: Number(p.stats.timeoutCount),
                    jailCount: Number(p.stats.jailCount),
                },
                healthMs,
            };
        });
        return read.filter((o): o is ProviderOffer => o !== null).sort(f.order ?? byPriceThenRecord);
    }

    // Opens a session with the first of `offers` (best first, as findProviders orders them) that
    // accepts it, moving on to the next when a provider refuses or cannot be reached. Throws a
    // CocoonError naming every provider tried and why, when none opened one.
    async openSessionWithFailover(
        offers: ProviderOffer[],
        o: { budget: bigint; durationSeconds: number; sessionKey?: SessionKey; nonce?: bigint; beforeOpen?: (session: Address) => void },
    ): Promise<ClientSession> {
        const problems: string[] = [];
        for (const offer of offers) {
            try {
                return await this.openSession(offer.provider, { ...o, model: offer.model, modelHash: offer.modelHash });
            } catch (e) {
                // a session sent but not confirmed yet may still open: do not open a second one
                if (e instanceof CocoonError && e.code === 'not-confirmed') throw e;
                problems.push(`${offer.provider.toString()}: ${(e as Error).message}`);
            }
        }
        throw new CocoonError('provider-unavailable', `no provider opened a session: ${problems.join('; ') || 'no offers'}`);
    }

    // Opens a session with `budget` nanotons escrowed for `durationSeconds`. The Provider's
    // on-chain rules are checked first, so a refusal comes back as a CocoonError naming the rule
    // rather than as a refund. Keep `session.sessionKey` to resume the session later.
    async openSession(
        provider: Address,
        o: {
            model: string;
            budget: bigint;
            durationSeconds: number;
            nonce?: bigint;
            sessionKey?: SessionKey;
            modelHash?: Buffer;
            // called with the session's address just before the budget is sent (to write it down)
            beforeOpen?: (session: Address) => void;
        },
    ): Promise<ClientSession> {
        const p = await this.providerOrThrow(provider);
        const now = this.o.chain.now();
        const problem = sessionOpeningProblem(p, o, now, this.margin) ?? (await this.trustProblem(p));
        if (problem) throw problem;
        const sessionKey = o.sessionKey ?? (await generateEncryptionKeyPair());
        const nonce = o.nonce ?? randomBytes(8).readBigUInt64BE();
        // The Session derives its Provider from (Root, owner): it can only ever deal with the
        // Provider of this owner under this client's Root (providerOrThrow checked it is that one).
        const session = await sessionFor(this.o.root, p.owner, this.o.wallet.address, nonce);
        const body = beginCell()
            .store(
                storeOpenSession({
                    $$type: 'OpenSession',
                    queryId: nonce,
                    modelKey: modelKey(o.model),
                    deadline: BigInt(now + o.durationSeconds),
                    clientKeyHash: clientKeyHashOf(sessionKey.publicKey),
                }),
            )
            .endCell();
        o.beforeOpen?.(session.address);
        await onChain(this.o.chain, 'send OpenSession', () =>
            // bounceable: if the Session refuses the message, the value comes back
            this.o.wallet.send({ to: session.address, value: o.budget + SESSION_OPEN_OVERHEAD, body, init: session.init, bounce: true }),
        );
        // (a read that fails meanwhile, an endpoint behind, is no answer: the budget has left, and
        // a failure here would send the caller to another provider with a second one)
        let lastError: unknown;
        const state = await waitFor(async () => {
            const s = await readSession(this.o.chain, session.address).catch((e: unknown) => void (lastError = e));
            return s && s.status >= Number(SESSION_OPEN) ? s : undefined;
        }, this.confirmTimeoutMs);
        if (!state) {
            const gone = await this.o.chain.accountState(session.address).then(
                (a) => a !== 'active',
                () => false,
            );
            if (!gone && lastError) {
                throw new CocoonError(
                    'not-confirmed',
                    `the session ${session.address.toString()} was sent but could not be read (${(lastError as Error).message}): check it again later with resumeSession`,
                );
            }
            throw gone
                ? new CocoonError(
                      'session-refused',
                      'the Provider refused the session and the value was refunded; see its transaction for the exit code',
                  )
                : new CocoonError(
                      'not-confirmed',
                      `the session ${session.address.toString()} is not open yet: check it again later with resumeSession`,
                  );
        }
        return new ClientSession(this, state, o.model, sessionKey, p.listing!.endpoint, bigIntToBuffer32(p.attestation!.modelHash));
    }

    // A session opened earlier (by this wallet), with the key it was opened with. Pass the last
    // receipt accepted (`session.latest`) to go on checking token counts from there; without it
    // the first receipt after resuming is the new baseline (its counts of earlier usage cannot be
    // compared with anything).
    async resumeSession(
        address: Address,
        sessionKey: SessionKey,
        model: string,
        last?: { receipt: Cell; signature: Buffer },
        // the model the session was opened with (session.modelHash): without it, the model the
        // provider is attested for now (the Session's terms do not record one)
        modelHash?: Buffer,
    ): Promise<ClientSession> {
        const s = await readSession(this.o.chain, address);
        if (!s) throw new CocoonError('session-not-open', `no Session at ${address.toString()}`);
        if (clientKeyHashOf(sessionKey.publicKey) !== s.clientKeyHash) {
            throw new CocoonError('session-not-open', 'this session key is not the one the session was opened with');
        }
        const p = await this.providerOrThrow(s.provider);
        await this.requireSession(s, p);
        const session = new ClientSession(
            this,
            s,
            model,
            sessionKey,
            p.listing!.endpoint,
            modelHash ?? bigIntToBuffer32(p.attestation?.modelHash ?? 0n),
        );
        if (last) session.restore(last);
        else session.forgetCounts();
        return session;
    }

    // One step towards getting a session's unspent budget back, for a session known only by its
    // address (its key lost, as after a restart): an open session is closed, a closed or expired
    // one is finalized once the provider's claim window is over. Sends at most one message and
    // does not wait for it; call again later until it says 'settled' ('absent': no Session there,
    // because it was refused and refunded, or because its opening message has not landed yet).
    // Returns where it stands and, while waiting for the claim window, from when it can be
    // finalized (unix time).
    async settleSession(address: Address): Promise<{ step: 'absent' | 'closing' | 'waiting' | 'finalizing' | 'settled'; at?: number }> {
        const s = await onChain(this.o.chain, 'read the session', () => readSession(this.o.chain, address));
        if (!s && (await onChain(this.o.chain, 'read the session', () => this.o.chain.accountState(address))) === 'active') {
            // (an account that answers as no Session does: not 'absent', which a caller takes for refunded)
            throw new CocoonError('not-a-session', `${address.toString()} is an account that answers as no Session does`);
        }
        if (!s) return { step: 'absent' };
        if (s.status >= Number(SESSION_FINALIZED)) return { step: 'settled' };
        if (!s.client.equals(this.o.wallet.address))
            throw new CocoonError('session-not-open', `${address.toString()} is not this wallet's session`);
        await this.requireSession(s);
        const now = this.o.chain.now();
        const send = (value: bigint, body: Cell) =>
            onChain(this.o.chain, 'send', () => this.o.wallet.send({ to: address, value, body, bounce: true }));
        const finalize = () =>
            beginCell()
                .store(storeFinalizeSession({ $$type: 'FinalizeSession', queryId: 0n }))
                .endCell();
        if (s.status === Number(SESSION_OPENING)) {
            // the Provider never accepted: the whole escrow comes back once OPENING_TIMEOUT is over
            const at = s.openedAt + Number(OPENING_TIMEOUT);
            if (now < at) return { step: 'waiting', at };
            await send(FINALIZE_VALUE, finalize());
            return { step: 'finalizing' };
        }
        if (s.status < Number(SESSION_OPEN) || !s.terms) return { step: 'waiting' };
        if (s.status === Number(SESSION_OPEN) && s.deadline > now) {
            await send(
                CLOSE_VALUE,
                beginCell()
                    .store(storeCloseSession({ $$type: 'CloseSession', queryId: 0n }))
                    .endCell(),
            );
            return { step: 'closing' };
        }
        const at = claimWindowEnd(s.status, s.deadline, s.closedAt, Number(s.terms.closeGracePeriod)) + 1;
        if (now < at) return { step: 'waiting', at };
        await send(FINALIZE_VALUE, finalize());
        return { step: 'finalizing' };
    }

    // That the account read as `s` is a Session (isSessionOf: Cocoon's Session code at the address
    // its initial data give), not a contract that answers like one (which would keep a top-up, or
    // the value of a close or finalize), before anything is sent to it or through it. `provider`:
    // its Provider as already read. (Any Root's: a session of an earlier deployment still settles.)
    private async requireSession(s: SessionState, provider?: Pick<ProviderState, 'root' | 'owner'>) {
        const p = provider ?? (await readProvider(this.o.chain, s.provider));
        if (!p) {
            throw new CocoonError(
                'provider-not-found',
                `no Provider at ${s.provider.toString()}, the one ${s.address.toString()} names: it cannot be a Session`,
            );
        }
        if (!(await isSessionOf(p, s))) {
            throw new CocoonError(
                'not-a-session',
                `${s.address.toString()} answers like a Session but is not one: its address is not the one a Session's code and initial data give. Send it nothing.`,
            );
        }
    }

    // What this client's own policy finds wrong with a provider it is about to trust, beyond the
    // contracts' rules: a status other than active (paused, jailed, exiting), an attestation whose
    // TCB status it does not accept (simulated evidence on mainnet never), or one signed under an
    // earlier verifier set than Root's current one. Null when there is nothing.
    async trustProblem(p: Pick<ProviderState, 'status' | 'attestation'>): Promise<CocoonError | null> {
        if (p.status !== Number(STATUS_ACTIVE)) {
            return new CocoonError(
                'provider-unavailable',
                `the provider is ${PROVIDER_STATUS_NAMES[p.status]}, not active: nothing is sent to it`,
            );
        }
        const a = p.attestation;
        if (!a)
            return new CocoonError(
                'not-attested',
                'the provider has no valid attestation: no enclave key can be trusted until it is attested',
            );
        const status = Number(a.tcbStatus);
        const accepted = this.o.acceptedTcbStatuses ?? [Number(TCB_UP_TO_DATE)];
        if (
            status === Number(TCB_SIMULATED) &&
            (Number(a.globalId) === GLOBAL_ID_MAINNET || (await this.rootGlobalId()) === GLOBAL_ID_MAINNET)
        ) {
            return new CocoonError(
                'tcb-not-accepted',
                'the provider is attested with simulated evidence (no TEE) on mainnet: nothing is sent to it',
            );
        }
        if (!accepted.includes(status)) {
            return new CocoonError(
                'tcb-not-accepted',
                `the provider's TEE has TCB status ${tcbStatusName(status)}, which this client does not accept (acceptedTcbStatuses: ${accepted.map(tcbStatusName).join(', ')})`,
            );
        }
        if (!this.o.acceptEarlierVerifierEpochs) {
            const epoch = await this.verifierEpoch();
            if (a.verifierEpoch < epoch) {
                return new CocoonError(
                    'verifier-set-changed',
                    `the provider's attestation was signed under verifier set ${a.verifierEpoch}; Root's is now ${epoch}: wait for the provider to attest again (its worker does so when the set changes)`,
                );
            }
        }
        return null;
    }

    // Judges a provider's attestation evidence itself, for a client that distrusts the verifier
    // set: fetches the evidence of the current attestation from the provider's worker
    // (GET /v1/evidence), checks it is the evidence of the attestation the Provider holds (its
    // enclave keys, this provider), judges it with `judge` (tee-verifier's judgeEvidence with the
    // client's own collateral source, TCB policy and NVIDIA trust: the verifiers' code), and checks
    // that the measurement and TCB status are those on-chain and that Root allowlists the measurement.
    async verifyProviderEvidence(
        provider: Address,
        judge: (request: AttestationRequest) => Promise<{ measurement: Buffer; tcbStatus: number }>,
        timeoutMs = 30_000,
    ): Promise<{ measurement: Buffer; tcbStatus: number; evidence: AttestationRequest }> {
        const p = await this.providerOrThrow(provider);
        const a = p.attestation;
        if (!a || a.validUntil === 0n)
            throw new CocoonError('not-attested', 'the provider has no valid attestation to check evidence against');
        const url = new URL('v1/evidence', p.listing!.endpoint.endsWith('/') ? p.listing!.endpoint : p.listing!.endpoint + '/');
        let body: unknown;
        try {
            const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
            body = await res.json().catch(() => null);
            if (!res.ok) throw new Error(`HTTP ${res.status}`);
        } catch (e) {
            throw new CocoonError('evidence-unavailable', `the worker at ${url} did not serve its evidence: ${(e as Error).message}`);
        }
        const parsed = attestRequestSchema.safeParse(body);
        if (!parsed.success)
            throw new CocoonError('evidence-unavailable', `the worker at ${url} served something else than attestation evidence`);
        const evidence = parsed.data;
        if (
            !evidence.provider.equals(provider) ||
            bufferToBigInt(evidence.signingKey) !== a.signingKey ||
            bufferToBigInt(evidence.encryptionKey) !== a.encryptionKey ||
            bufferToBigInt(evidence.modelHash) !== a.modelHash
        ) {
            throw new CocoonError(
                'evidence-mismatch',
                'the worker served evidence for other enclave keys, another provider or another model than the attestation on-chain',
            );
        }
        let verdict: { measurement: Buffer; tcbStatus: number };
        try {
            verdict = await judge(evidence);
        } catch (e) {
            const code = (e as { code?: string }).code;
            throw new CocoonError(
                'evidence-rejected',
                `the provider's evidence does not verify${code ? ` (${code})` : ''}: ${(e as Error).message}`,
                code,
            );
        }
        if (bufferToBigInt(verdict.measurement) !== a.measurement || verdict.tcbStatus !== Number(a.tcbStatus)) {
            throw new CocoonError(
                'evidence-mismatch',
                `the evidence shows measurement ${verdict.measurement.toString('hex')} (TCB ${tcbStatusName(verdict.tcbStatus)}), not the attested ${bigIntToBuffer32(a.measurement).toString('hex')} (TCB ${tcbStatusName(Number(a.tcbStatus))})`,
            );
        }
        const allowed = await onChain(this.o.chain, 'read the measurement allowlist', () =>
            this.o.chain.open(Root.fromAddress(this.o.root)).getIsMeasurementAllowed(a.measurement),
        );
        if (!allowed) throw new CocoonError('measurement-withdrawn', "Root no longer allowlists the provider's measurement");
        return { ...verdict, evidence };
    }

    // A registered Provider of this client's Root at `address`, or a CocoonError. A contract that
    // only claims to be one (another Root's, or other code) is refused before anything is sent.
    async providerOrThrow(address: Address): Promise<ProviderState> {
        const p = await readProvider(this.o.chain, address).catch((e) => {
            if (e instanceof CocoonError) throw e;
            throw new CocoonError('foreign-provider', `${address.toString()} is not a Cocoon Provider (${(e as Error).message})`);
        });
        if (!p) throw new CocoonError('provider-not-found', `no Provider at ${address.toString()}`);
        if (!(await isProviderOf(this.o.root, p))) {
            throw new CocoonError(
                'foreign-provider',
                `${address.toString()} is not the Provider this client's Root (${this.o.root.toString()}) has for its owner: it belongs to another deployment or runs other code`,
            );
        }
        if (!p.listing || !p.params) throw new CocoonError('provider-not-found', `the Provider at ${address.toString()} is not registered`);
        return p;
    }
}

/**
 * Why the Provider would refuse a session on these terms (LockCollateral in
 * contracts/provider.tact, which decides), or null: checked before sending so that the caller
 * hears the rule rather than gets a refund. Budget and duration are checked when given.
 */
export function sessionOpeningProblem(
    p: ProviderState,
    o: { model: string; budget?: bigint; durationSeconds?: number; modelHash?: Buffer },
    now: number,
    attestationMargin: number,
): CocoonError | null {
    if (p.status !== Number(STATUS_ACTIVE)) {
        return new CocoonError(
            'provider-unavailable',
            `the provider is ${PROVIDER_STATUS_NAMES[p.status]}, not active: it opens no session`,
        );
    }
    const attestation = attestationProblem(p.attestation, now, attestationMargin);
    if (attestation) return attestation;
    const offer = offerFor(p.listing, o.model);
    if (!offer) return new CocoonError('model-not-listed', `the provider does not list the model ${o.model}`);
    if (o.modelHash && offer.modelHash !== bufferToBigInt(o.modelHash)) {
        return new CocoonError(
            'model-not-attested',
            `the provider lists ${o.model} as model ${offer.modelHash.toString(16).padStart(64, '0')}, not the ${o.modelHash.toString('hex')} you asked for`,
        );
    }
    if (offer.modelHash !== p.attestation!.modelHash) {
        return new CocoonError(
            'model-not-attested',
            `the provider lists ${o.model} as model ${offer.modelHash.toString(16).padStart(64, '0')}, but its enclave is attested to serve model ${p.attestation!.modelHash.toString(16).padStart(64, '0')}`,
        );
    }
    const params = p.params!;
    if (o.budget !== undefined && o.budget < params.minSessionBudget) {
        return new CocoonError('budget-too-small', `the budget must be at least ${fromNano(params.minSessionBudget)} TON`);
    }
    if (o.durationSeconds !== undefined && (o.durationSeconds <= 0 || o.durationSeconds > Number(params.maxSessionDuration))) {
        return new CocoonError('invalid-duration', `a session lasts between 1 second and ${params.maxSessionDuration} seconds`);
    }
    const collateral = ((o.budget ?? 0n) * params.collateralBps) / 10_000n;
    if (p.stake < params.minProviderStake) {
        return new CocoonError(
            'provider-unavailable',
            `the provider's stake (${fromNano(p.stake)} TON) is below the minimum of ${fromNano(params.minProviderStake)} TON: it opens no session`,
        );
    }
    if (collateral > p.freeStake) {
        return new CocoonError(
            'insufficient-collateral',
            `the provider has ${fromNano(p.freeStake)} TON of free stake; this budget needs ${fromNano(collateral)} TON of collateral: choose a smaller budget or another provider`,
        );
    }
    return null;
}

// An attestation that is missing, invalidated by a jail, or valid for less than `margin` more
// seconds, is no good.
function attestationProblem(a: Attestation | null, now: number, margin: number): CocoonError | null {
    if (!a || a.validUntil === 0n)
        return new CocoonError('not-attested', 'the provider has no valid attestation: no enclave key can be trusted until it is attested');
    const until = Number(a.validUntil);
    if (until > now + margin) return null;
    return new CocoonError(
        'attestation-expired',
        `the provider has no valid attestation now: it ${until <= now ? 'expired' : 'expires'} at ${new Date(until * 1000).toISOString()}; nothing is sent until it is attested again`,
    );
}

const tcbStatusName = (s: number) => `${TCB_STATUS_NAMES[s] ?? 'unknown'} (${s})`;

function requireAttested(p: { attestation: Attestation | null }, now: number, margin: number) {
    const problem = attestationProblem(p.attestation, now, margin);
    if (problem) throw problem;
}

/** chat()'s answer: the completion and the receipt it was charged under, checked. */
export interface ChatResult {
    completion: ChatCompletion;
    receipt: ReceiptFields;
}

/** chatStream's answer: the chunks as they come, then the usage charged and the receipt. */
export interface ChatStream extends AsyncIterable<ChatCompletionChunk> {
    result: Promise<{ usage: UsageObject; receipt: ReceiptFields }>;
}

/** complete()'s and completeStream()'s, for text completion requests (POST /v1/completions). */
export interface TextCompletionResult {
    completion: TextCompletion;
    receipt: ReceiptFields;
}
/** completeStream()'s answer: the chunks as they come, then the usage charged and the receipt. */
export interface TextCompletionStream extends AsyncIterable<TextCompletionChunk> {
    result: Promise<{ usage: UsageObject; receipt: ReceiptFields }>;
}

interface AttemptResult {
    completion?: Completion; // a whole answer's
    usage: UsageObject;
    receipt: ReceiptFields;
}

/**
 * An open session with one provider: sends encrypted requests (chat, complete and their streams), checks every receipt,
 * and tops up, closes and finalizes the session.
 */
export class ClientSession {
    readonly address: Address;
    readonly provider: Address;
    private tracker: ReceiptTracker;
    private stoppedBy: Error | null = null;
    private workerBoot?: string; // the worker's run requests are sealed for (it names it when it refuses another)
    private latestReceipt: { boc: Buffer; signature: Buffer; seqno: number } | null = null;
    private slots: Semaphore;

    constructor(
        private readonly client: CocoonClient,
        private state: SessionState,
        readonly model: string,
        readonly sessionKey: SessionKey,
        readonly endpoint: string,
        // The model the provider's enclave is attested to serve (worker model-hash): what this
        // session talks to. A re-attestation for another model stops the session's requests.
        readonly modelHash: Buffer,
    ) {
        this.address = state.address;
        this.provider = state.provider;
        this.slots = new Semaphore(client.o.maxConcurrentRequests ?? 8);
        const terms = state.terms!;
        this.tracker = new ReceiptTracker({
            session: state.address,
            openedAt: state.openedAt,
            globalId: Number(terms.globalId),
            enclaveSigningKey: bigIntToBuffer32(terms.signingKey),
            prices: this.prices,
            budget: state.budget,
        });
    }

    // Resuming: the last receipt this client accepted becomes the starting point.
    restore(last: { receipt: Cell; signature: Buffer }) {
        const r = this.tracker.restore(last.receipt, last.signature);
        this.latestReceipt = { boc: last.receipt.toBoc(), signature: last.signature, seqno: r.seqno };
    }

    forgetCounts() {
        this.tracker.forgetCounts();
    }

    get prices(): PriceRates {
        return this.state.terms!.prices;
    }

    get budget(): bigint {
        return this.state.budget;
    }

    // The session's deadline (unix time, chain clock) and whether it still takes requests: open,
    // and not stopped by a bad receipt.
    get deadline(): number {
        return this.state.deadline;
    }

    get usable(): boolean {
        return this.state.status === Number(SESSION_OPEN) && !this.stoppedBy;
    }

    // The last receipt accepted: what the provider may claim at most.
    get latest() {
        return this.tracker.latest;
    }

    // The last receipt accepted, as the worker signed it: what the provider may claim at most,
    // and what resumeSession takes to go on checking from there.
    get lastReceipt(): { receipt: Cell; signature: Buffer } | null {
        return this.latestReceipt && { receipt: Cell.fromBoc(this.latestReceipt.boc)[0], signature: this.latestReceipt.signature };
    }

    async refresh(): Promise<SessionState> {
        const s = await readSession(this.client.o.chain, this.address);
        if (!s) throw new CocoonError('session-not-open', `the Session ${this.address.toString()} no longer exists`);
        this.state = s;
        this.tracker.budget = s.budget;
        return s;
    }

    // The enclave key to encrypt to, checked on-chain before every request: the provider must be
    // active, its attestation valid (not expired, revoked or ended by a jail), acceptable to this
    // client's policy, still for the session's signing key, and its measurement allowlisted.
    async checkAttestation(): Promise<Buffer> {
        const chain = this.client.o.chain;
        const { attestation, status } = await this.client.providerCheck(this.provider);
        requireAttested({ attestation }, chain.now(), this.client.margin);
        const untrusted = await this.client.trustProblem({ status: Number(status), attestation });
        if (untrusted) throw untrusted;
        const a = attestation!;
        if (a.modelHash !== bufferToBigInt(this.modelHash)) {
            throw new CocoonError(
                'attestation-mismatch',
                `the provider's enclave is now attested for model ${a.modelHash.toString(16).padStart(64, '0')}, not the ${this.modelHash.toString('hex')} this session opened with: close this session`,
            );
        }
        if (a.signingKey !== this.state.terms!.signingKey) {
            throw new CocoonError(
                'attestation-mismatch',
                "the provider's attested enclave key changed since this session opened (its worker restarted): close this session and open a new one",
            );
        }
        if (!(await this.client.isMeasurementAllowed(a.measurement)))
            throw new CocoonError(
                'measurement-withdrawn',
                "governance withdrew the provider's TEE measurement from the allowlist: do not send requests",
            );
        return bigIntToBuffer32(a.encryptionKey);
    }

    // One chat request, encrypted to the attested enclave; returns the completion once its
    // receipt passed every check. A receipt that fails one stops the session (ReceiptRejected).
    // Requests of a session run in parallel (up to maxConcurrentRequests; more wait their turn).
    // Every request has an id (`requestId`, or a random one): when the worker does not answer, or
    // answers with a failure worth retrying, the same request is sent again under the same id, and
    // the worker returns the answer it already served, charged once. Pass your own id to retry
    // from another process after a crash.
    async chat(request: Omit<ChatRequest, 'model'>, o: { requestId?: string } = {}): Promise<ChatResult> {
        if (request.stream) throw new CocoonError('bad-request', 'a request with stream: true goes through chatStream()');
        if (isTextCompletionRequest(request))
            throw new CocoonError('bad-request', 'a request with a prompt and no messages goes through complete()');
        const r = await this.run(request, o.requestId);
        return { completion: r.completion as ChatCompletion, receipt: r.receipt };
    }

    // A text completion request (OpenAI's legacy /v1/completions: a prompt, no messages), for
    // providers whose backend offers it; one that does not answers `rejected-by-model`. Checked,
    // retried and charged as chat() is.
    async complete(request: Omit<TextCompletionRequest, 'model'>, o: { requestId?: string } = {}): Promise<TextCompletionResult> {
        if (request.stream) throw new CocoonError('bad-request', 'a request with stream: true goes through completeStream()');
        if (!isTextCompletionRequest(request))
            throw new CocoonError('bad-request', 'a text completion request has a prompt and no messages');
        const r = await this.run(request, o.requestId);
        return { completion: r.completion as TextCompletion, receipt: r.receipt };
    }

    // complete(), answered as a stream (text_completion chunks), as chatStream() is.
    completeStream(request: Omit<TextCompletionRequest, 'model' | 'stream'>, o: { requestId?: string } = {}): TextCompletionStream {
        return this.streamed<TextCompletionChunk>({ ...request, stream: true }, o.requestId);
    }

    // A chat request answered as a stream: iterate over the chunks as the model produces them
    // (OpenAI's chat.completion.chunk objects, without usage), then `result` has the usage charged
    // and the receipt, checked like chat()'s. The stream is encrypted end to end, frame by frame
    // (protocol/encryption.ts); a stream cut off is asked for again under the same request id and
    // goes on where it stopped (the worker keeps the whole answer), charged once.
    chatStream(request: Omit<ChatRequest, 'model' | 'stream'>, o: { requestId?: string } = {}): ChatStream {
        return this.streamed<ChatCompletionChunk>({ ...request, stream: true }, o.requestId);
    }

    private streamed<C extends CompletionChunk>(request: Omit<InferenceRequest, 'model'>, requestId: string | undefined) {
        const chunks = new AsyncQueue<C>();
        const result = this.run(request, requestId, (c) => chunks.push(c as C)).then(
            (r) => {
                chunks.end();
                return { usage: r.usage, receipt: r.receipt };
            },
            (e) => {
                chunks.fail(e);
                throw e;
            },
        );
        result.catch(() => {}); // (also thrown to whoever iterates)
        return { result, [Symbol.asyncIterator]: () => chunks[Symbol.asyncIterator]() };
    }

    private async run(
        request: Omit<InferenceRequest, 'model'>,
        requestId = randomNonce(16).toString('base64url'),
        onChunk?: (c: CompletionChunk) => void,
    ): Promise<AttemptResult> {
        await this.slots.acquire();
        try {
            this.requireUsable();
            const plaintext = Buffer.from(JSON.stringify({ ...request, model: this.model }));
            const parsed = inferenceRequestOf(plaintext);
            const text = isTextCompletionRequest(parsed);
            const outstanding = this.tracker.expect(requestTokenBounds(parsed, plaintext.length), requestId);
            const retries = this.client.o.retries ?? 3;
            let maybeServed = false; // an attempt may have been served though its answer never came
            // chunks of a stream already passed on (with their digests): a retry skips them, once it
            // has checked they are the same chunks, so that two different answers are never joined
            const delivered = { chunks: 0, digests: [] as string[] };
            for (let attempt = 0; ; attempt++) {
                try {
                    return await this.attempt(plaintext, text, requestId, outstanding, onChunk && { onChunk, delivered });
                } catch (e) {
                    const kind = failureKind(e);
                    if (kind === 'unknown-outcome') maybeServed = true;
                    if (kind !== 'final' && attempt < retries && !this.stoppedBy) {
                        await sleep(Math.min(250 * 2 ** attempt, 5_000));
                        continue;
                    }
                    // The worker's own refusal proves this attempt was not served; earlier ones may have been.
                    if (e instanceof CocoonError && e.detail === 'answer-expired') maybeServed = true;
                    if (e instanceof CocoonError && e.detail === 'nothing-to-resume') {
                        // the worker kept nothing under this id, so it charges nothing for it
                        maybeServed = false;
                        e = new CocoonError(
                            'answer-broken',
                            `the answer broke off after ${delivered.chunks} chunks and the worker kept none of it: not charged (${e.message})`,
                        );
                    }
                    if (!maybeServed && e instanceof CocoonError) {
                        try {
                            this.tracker.release(outstanding);
                        } catch (rejected) {
                            if (rejected instanceof ReceiptRejected) this.stoppedBy = rejected;
                            throw rejected;
                        }
                    }
                    if (e instanceof CocoonError) e.maybeServed = maybeServed;
                    throw e;
                }
            }
        } finally {
            this.slots.release();
        }
    }

    private requireUsable() {
        if (this.stoppedBy)
            throw new CocoonError('stopped', `this session stopped after a bad receipt (${this.stoppedBy.message}): close it`);
    }

    private async attempt(
        plaintext: Buffer,
        textRequest: boolean, // a text completion request (else a chat request): the answer must be of the same kind
        requestId: string,
        outstanding: Outstanding,
        stream?: { onChunk: (c: CompletionChunk) => void; delivered: { chunks: number; digests: string[] } },
    ): Promise<AttemptResult> {
        this.requireUsable();
        if (this.state.status !== Number(SESSION_OPEN)) await this.refresh();
        if (this.state.status !== Number(SESSION_OPEN)) {
            throw new CocoonError('session-not-open', `the session is ${SESSION_STATUS_NAMES[this.state.status]}: it takes no requests`);
        }
        const enclaveKey = await this.checkAttestation();
        // A stream already partly delivered only goes on with the answer the worker kept: a new
        // answer could not be joined to the chunks the application has, and would be charged.
        const resume = (stream?.delivered.chunks ?? 0) > 0;
        const sealedFor = this.workerBoot;
        const { envelope, openResponse, openStream } = await sealRequest(enclaveKey, this.address, this.sessionKey, plaintext, requestId, {
            resume,
            boot: sealedFor,
        });
        const res = await this.post(`/v1/sessions/${this.address.toString()}/chat`, envelope);
        if (res.status === 200 && res.lines) {
            if (!stream) {
                res.abort!(); // (its body is never read)
                throw new CocoonError('bad-answer', 'the worker streamed an answer to a request that asked for a whole one');
            }
            return this.readStream(res.lines, openStream(), outstanding, { ...stream, text: textRequest });
        }
        if (res.status !== 200) {
            const err = workerErrorSchema.safeParse(res.json);
            if (err.success && err.data.error === 'rejected-by-model' && err.data.sealed) {
                let explanation = '';
                try {
                    explanation = modelErrorMessage(JSON.parse(openResponse(err.data.sealed).toString('utf8')));
                } catch {
                    explanation = '(its explanation does not decrypt)';
                }
                throw new CocoonError(
                    'rejected-by-model',
                    `the model refused the request, not charged: ${explanation}`,
                    'rejected-by-model',
                );
            }
            // Sealed for another run of the worker (the first request, or one after a restart): seal
            // it again for the run it named. Refused unopened, so nothing was served.
            if (err.success && err.data.error === 'stale-boot' && err.data.boot && err.data.boot !== sealedFor) {
                this.workerBoot = err.data.boot;
                return this.attempt(plaintext, textRequest, requestId, outstanding, stream);
            }
            // The worker holds other keys than the ones checked: look at the chain again, which
            // names the real problem (a new attestation) if there is one.
            if (err.success && (err.data.error === 'previous-enclave-key' || err.data.error === 'undecryptable')) {
                this.client.forgetProviderCheck(this.provider);
                await this.checkAttestation();
            }
            throw new CocoonError(
                'worker-refused',
                `the worker refused: ${err.success ? `${err.data.error}: ${err.data.message}` : `HTTP ${res.status}`}`,
                err.success ? err.data.error : `http-${res.status}`,
            );
        }
        const sealed = responseEnvelopeSchema.safeParse(res.json);
        if (!sealed.success) throw new CocoonError('bad-answer', 'the worker answered without an encrypted response');
        let parsed;
        try {
            parsed = sealedAnswerSchema.parse(JSON.parse(openResponse(sealed.data).toString('utf8')));
        } catch (e) {
            throw new CocoonError('bad-answer', `the worker's response cannot be read: ${(e as Error).message}`);
        }
        if (stream) throw new CocoonError('bad-answer', 'the worker answered a streamed request whole');
        const { completion } = parsed;
        if ((completion.object === 'text_completion') !== textRequest)
            throw new CocoonError('bad-answer', `the worker answered with a ${completion.object} to another kind of request`);
        return { completion, usage: completion.usage, receipt: this.checkReceipt(parsed, completion.usage, outstanding) };
    }

    // Checks the receipt an answer came with against the usage the answer reported; a bad one
    // stops the session.
    private checkReceipt(signed: { receipt: string; signature: string }, usage: UsageObject, outstanding: Outstanding): ReceiptFields {
        const boc = Buffer.from(signed.receipt, 'base64');
        const signature = Buffer.from(signed.signature, 'hex');
        let receipt: ReceiptFields;
        try {
            receipt = this.tracker.check(boc, signature, {
                usage: tokenUsageOf(usage),
                outstanding,
                now: this.client.o.chain.now(),
            });
        } catch (e) {
            if (e instanceof ReceiptRejected) this.stoppedBy = e;
            throw e;
        }
        if (!this.latestReceipt || receipt.seqno > this.latestReceipt.seqno) this.latestReceipt = { boc, signature, seqno: receipt.seqno };
        return receipt;
    }

    // An encrypted stream's frames, opened in order: chunks are passed on (after the ones an
    // earlier attempt already passed on), the last frame's receipt is checked. A stream that ends
    // without its last frame was cut off: 'worker-unreachable', which is retried under the same id.
    private async readStream(
        lines: AsyncIterable<string>,
        opener: StreamOpener,
        outstanding: Outstanding,
        stream: { onChunk: (c: CompletionChunk) => void; delivered: { chunks: number; digests: string[] }; text: boolean },
    ): Promise<AttemptResult> {
        let index = 0;
        try {
            for await (const line of lines) {
                if (!line) continue;
                let payload: StreamFramePayload;
                try {
                    payload = streamFramePayloadSchema.parse(
                        JSON.parse(opener.open(streamFrameSchema.parse(JSON.parse(line))).toString('utf8')),
                    );
                } catch (e) {
                    throw new CocoonError('bad-answer', `the worker's stream cannot be read: ${(e as Error).message}`);
                }
                if ('chunk' in payload) {
                    if ((payload.chunk.object === 'text_completion') !== stream.text)
                        throw new CocoonError('bad-answer', `the worker streamed a ${payload.chunk.object} to another kind of request`);
                    const digest = createHash('sha256').update(JSON.stringify(payload.chunk)).digest('base64');
                    if (index < stream.delivered.chunks && stream.delivered.digests[index] !== digest) {
                        throw new CocoonError(
                            'answer-broken',
                            `the stream was asked for again after ${stream.delivered.chunks} chunks and the worker answered with another answer (chunk ${index} differs): the two are not joined`,
                        );
                    }
                    if (index++ >= stream.delivered.chunks) {
                        stream.delivered.chunks += 1;
                        stream.delivered.digests.push(digest);
                        stream.onChunk(payload.chunk);
                    }
                } else if ('done' in payload) {
                    return { usage: payload.done.usage, receipt: this.checkReceipt(payload.done, payload.done.usage, outstanding) };
                } else if (stream.delivered.chunks === 0) {
                    // the answer failed before any of it reached the application: not charged, retried
                    throw new CocoonError(
                        'worker-refused',
                        `the worker refused: ${payload.failed.error}: ${payload.failed.message}`,
                        payload.failed.error,
                    );
                } else {
                    throw new CocoonError(
                        'answer-broken',
                        `the answer broke off after ${stream.delivered.chunks} chunks, not charged: ${payload.failed.message}`,
                    );
                }
            }
        } catch (e) {
            if (e instanceof CocoonError) throw e;
            throw new CocoonError('worker-unreachable', `the worker's stream broke off: ${(e as Error).message}`);
        }
        throw new CocoonError('worker-unreachable', `the worker's stream broke off after ${index} chunks, before its last frame`);
    }

    async topUp(amount: bigint): Promise<bigint> {
        const before = this.state.budget;
        const body = beginCell()
            .store(storeTopUpSession({ $$type: 'TopUpSession', queryId: 0n }))
            .endCell();
        const s = await this.sendAndAwait(amount, body, 'TopUpSession', (s) => s.budget > before);
        return s.budget;
    }

    // Stops the session: the provider has the close grace period for a final claim.
    async close(): Promise<void> {
        const body = beginCell()
            .store(storeCloseSession({ $$type: 'CloseSession', queryId: 0n }))
            .endCell();
        await this.sendAndAwait(CLOSE_VALUE, body, 'CloseSession', (s) => s.status >= Number(SESSION_CLOSING));
    }

    // When the session can be finalized (unix time: after the provider's claim window), and
    // whether that will be a timeout (no receipt claimed, not even an acknowledgement).
    finalizableAt(): { at: number; timeout: boolean } {
        const s = this.state;
        return { at: claimWindowEnd(s.status, s.deadline, s.closedAt, Number(s.terms!.closeGracePeriod)) + 1, timeout: s.seqno === 0 };
    }

    // Settles the session: the unclaimed budget comes back to this wallet (on a timeout the slashed
    // collateral goes to the treasury). Returns what the session refunded.
    async finalize(): Promise<{ refund: bigint; claimed: bigint; timedOut: boolean }> {
        await this.refresh();
        const { at, timeout } = this.finalizableAt();
        if (this.client.o.chain.now() < at) {
            throw new CocoonError(
                'too-early',
                `the session can be finalized from ${new Date(at * 1000).toISOString()} (the provider's claim window)`,
            );
        }
        const body = beginCell()
            .store(storeFinalizeSession({ $$type: 'FinalizeSession', queryId: 0n }))
            .endCell();
        const s = await this.sendAndAwait(FINALIZE_VALUE, body, 'FinalizeSession', (s) => s.status === Number(SESSION_FINALIZED));
        return { refund: s.budget - s.claimed, claimed: s.claimed, timedOut: timeout };
    }

    // Sends `what` to the Session and waits until its state shows the effect.
    private async sendAndAwait(value: bigint, body: Cell, what: string, done: (s: SessionState) => boolean): Promise<SessionState> {
        const chain = this.client.o.chain;
        await onChain(chain, `send ${what}`, () => this.client.o.wallet.send({ to: this.address, value, body, bounce: true }));
        let lastError: unknown; // (a read that fails meanwhile is no answer: what was sent is on its way)
        const s = await waitFor(async () => {
            const s = await this.refresh().catch((e: unknown) => void (lastError = e));
            return s && done(s) ? s : undefined;
        }, this.client.confirmTimeoutMs);
        if (!s) {
            throw new CocoonError(
                'not-confirmed',
                `${what} does not show on-chain yet${lastError ? ` (the last read failed: ${(lastError as Error).message})` : ''}: check the session's transactions for an exit code`,
            );
        }
        return s;
    }

    // The worker's answer: JSON, or for a stream its lines (application/x-ndjson).
    private async post(
        path: string,
        body: unknown,
    ): Promise<{ status: number; json: unknown; lines?: AsyncIterable<string>; abort?: () => void }> {
        const url = new URL(path, this.endpoint);
        try {
            const res = await postForStream(
                { url },
                JSON.stringify(body),
                { 'content-type': 'application/json' },
                this.client.o.requestTimeoutMs ?? 120_000,
            );
            if (res.status === 200 && res.contentType.startsWith('application/x-ndjson'))
                return { status: 200, json: null, lines: res.lines(), abort: res.abort };
            return { status: res.status, json: await res.json() };
        } catch (e) {
            // A connection never made proves the request was not delivered (and not served).
            const code = (e as NodeJS.ErrnoException).code ?? '';
            throw new CocoonError(
                'worker-unreachable',
                `the provider's worker at ${this.endpoint} does not answer (${(e as Error).message})`,
                NOT_CONNECTED.has(code) ? 'not-connected' : undefined,
            );
        }
    }
}

// Whether a failed attempt is worth another try under the same request id: 'unknown-outcome' (no
// answer from the worker itself: no answer at all, one that does not open, a proxy's 5xx, the
// worker's own 500: it may have been served, and the retry gets that answer), 'retry' (the worker
// refused before serving: a transient outage or limit), or 'final'.
const RETRIED_REFUSALS = new Set(['backend-unavailable', 'chain-unavailable', 'rate-limited', 'session-busy', 'unknown-session']);
// (only errors that happen before a connection exists: EHOSTUNREACH and the like can also end a
// connection that already carried the request)
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);
function failureKind(e: unknown): 'unknown-outcome' | 'retry' | 'final' {
    if (!(e instanceof CocoonError)) return 'final';
    if (e.code === 'worker-unreachable' && e.detail === 'not-connected') return 'retry';
    if (e.code === 'worker-unreachable' || e.code === 'bad-answer') return 'unknown-outcome';
    if (e.code === 'worker-refused' && (e.detail === 'internal' || /^http-5/.test(e.detail ?? ''))) return 'unknown-outcome';
    if (e.code === 'worker-refused' && RETRIED_REFUSALS.has(e.detail ?? '')) return 'retry';
    return 'final';
}

// The message of an OpenAI-style error body ({error: {message}}), or the body itself.
function modelErrorMessage(body: unknown): string {
    const message = (body as { error?: { message?: unknown } } | null)?.error?.message;
    return typeof message === 'string' ? message : JSON.stringify(body);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// At most `size` holders at once; the rest wait in order.
class Semaphore {
    private waiting: (() => void)[] = [];
    private held = 0;

    constructor(private readonly size: number) {}

    async acquire() {
        if (this.held < this.size) {
            this.held += 1;
            return;
        }
        await new Promise<void>((resolve) => this.waiting.push(resolve));
    }

    release() {
        const next = this.waiting.shift();
        if (next) next();
        else this.held -= 1;
    }
}

// How long GET /health of the worker at `endpoint` takes (ms), or null if it does not answer 200
// within `timeoutMs` (a worker whose keys are not attested answers 503).
async function workerHealth(endpoint: string, timeoutMs: number): Promise<number | null> {
    const started = performance.now();
    try {
        const res = await fetch(new URL('health', endpoint.endsWith('/') ? endpoint : endpoint + '/'), {
            signal: AbortSignal.timeout(timeoutMs),
        });
        await res.arrayBuffer();
        return res.ok ? Math.round((performance.now() - started) * 10) / 10 : null;
    } catch {
        return null;
    }
}

// The request as the worker will read it, or a CocoonError naming what is wrong (nothing is sent).
function inferenceRequestOf(plaintext: Buffer): InferenceRequest {
    if (plaintext.length > MAX_REQUEST_BYTES)
        throw new CocoonError('bad-request', `the request is ${plaintext.length} bytes; a worker takes at most ${MAX_REQUEST_BYTES}`);
    try {
        return parseInferenceRequest(JSON.parse(plaintext.toString('utf8')));
    } catch (e) {
        const issues =
            (e as { issues?: { path: unknown[]; message: string }[] }).issues
                ?.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`)
                .join('; ') ?? (e as Error).message;
        throw new CocoonError('bad-request', `not a chat or text completion request: ${issues}`);
    }
}
