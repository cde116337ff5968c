// A deployed protocol on the sandbox for the contract suites, the property suite and the gas
// benchmark: Root with three verifiers (2-of-3), registered and attested providers, signed
// proofs, sessions and receipts. No jest here (the benchmark runs without it): failures throw.
import { Blockchain, SandboxContract, TreasuryContract, updateConfig } from '@ton/sandbox';
import { Address, Cell, toNano } from '@ton/core';
import { KeyPair } from '@ton/crypto';
import {
    Provider,
    ProtocolParams,
    Root,
    EXAMPLE_PARAMS,
    rootForDeployment,
    GLOBAL_ID_MAINNET,
    TCB_UP_TO_DATE,
    buildAttestationProof,
    buildListing,
    buildSignatureChain,
    buildRevocationProof,
    RevocationFields,
    ed25519FromSeed,
    providerForOwner,
    Session,
    sessionFor,
    clientKeyHashOf,
    buildUsageReceipt,
    signUsageReceipt,
    amountDue,
    TokenUsage,
    modelKey,
    signProof,
    AttestationFields,
    ListingInput,
} from '../wrappers';
import { requireSuccess } from './transactions';
import { AttestationRequest, ReportDataBinding, expectedReportData } from '../protocol/evidence';

export const START_TIME = 1_800_000_000;
export const DAY = 86_400;

export const TEST_PARAMS: ProtocolParams = EXAMPLE_PARAMS;

// The model hash the fixtures' enclaves are attested to serve. Both listed models carry it (one
// attested configuration serving both names); OTHER_MODEL_HASH is a model nobody attested.
export const MODEL_HASH = Buffer.alloc(32, 0x3a);
export const OTHER_MODEL_HASH = Buffer.alloc(32, 0x3b);

// Token counts for tests: prompt and completion tokens, with cached and reasoning parts if given.
export function tokens(promptTokens: bigint, completionTokens: bigint, parts: { cached?: bigint; reasoning?: bigint } = {}): TokenUsage {
    return { promptTokens, cachedTokens: parts.cached ?? 0n, completionTokens, reasoningTokens: parts.reasoning ?? 0n };
}

// TEST_LISTING's (four distinct prices, so that a class priced as another shows)
export const PRICES = { prompt: toNano('0.05'), cachedPrompt: toNano('0.025'), completion: toNano('0.2'), reasoning: toNano('0.3') };

export const TEST_LISTING: ListingInput = {
    gpuModel: 'NVIDIA H100 80GB HBM3',
    gpuCount: 8,
    vramGb: 80,
    endpoint: 'https://worker.example:8443',
    models: [
        { name: 'Qwen/Qwen3-8B', prices: PRICES, modelHash: MODEL_HASH },
        {
            name: 'meta-llama/Llama-3.1-70B-Instruct',
            prices: { prompt: toNano('0.4'), cachedPrompt: toNano('0.1'), completion: toNano('1.2'), reasoning: toNano('1.2') },
            modelHash: MODEL_HASH,
        },
    ],
};

export const MEASUREMENT = Buffer.alloc(32, 0x4d);

// Keys, provider, verifier nonce and model of an attestation, for tests of the report_data and
// GPU nonce bindings (protocol/evidence.ts).
export const EXAMPLE_BINDING = {
    signingKey: Buffer.alloc(32, 1),
    encryptionKey: Buffer.alloc(32, 2),
    provider: new Address(0, Buffer.alloc(32, 3)),
    nonce: 42n,
    modelHash: Buffer.alloc(32, 4),
};

export function seededKey(label: string): KeyPair {
    return ed25519FromSeed(Buffer.from(label.padEnd(32, '.').slice(0, 32)));
}

export interface Protocol {
    blockchain: Blockchain;
    governance: SandboxContract<TreasuryContract>;
    root: SandboxContract<Root>;
    verifiers: KeyPair[];
    globalId: number;
    // When each session sendOpenSession opened was opened (the Session's opened_at), by raw
    // address: signedReceipt binds receipts to it.
    openedAt: Map<string, number>;
}

// Makes the sandbox report `globalId` as its network (config param 19). The sandbox starts as
// mainnet (-239); a testnet chain (-3) is where development evidence (TCB_SIMULATED) may count.
export function setGlobalId(blockchain: Blockchain, globalId: number) {
    blockchain.setConfig(updateConfig(blockchain.config, { kind: 'ConfigParam__19', global_id: globalId }));
}

// Root deployed by `governance`, three verifiers with threshold 2, one allowed measurement, on
// mainnet unless another global id is given.
export async function deployProtocol(
    params: ProtocolParams = TEST_PARAMS,
    startTime = START_TIME,
    globalId = GLOBAL_ID_MAINNET,
): Promise<Protocol> {
    const blockchain = await Blockchain.create();
    blockchain.now = startTime;
    if (globalId !== GLOBAL_ID_MAINNET) setGlobalId(blockchain, globalId);
    const governance = await blockchain.treasury('governance');
    const root = blockchain.openContract(await rootForDeployment({ owner: governance.address, globalId, params }));
    const deployed = await root.send(governance.getSender(), { value: toNano('1') }, { $$type: 'DeployRoot', queryId: 0n });
    requireSuccess(deployed.transactions, governance.address, root.address);

    const verifiers = ['verifier-a', 'verifier-b', 'verifier-c'].map(seededKey);
    for (const v of verifiers) {
        await root.send(
            governance.getSender(),
            { value: toNano('0.05') },
            {
                $$type: 'AddVerifier',
                queryId: 0n,
                publicKey: BigInt('0x' + v.publicKey.toString('hex')),
            },
        );
    }
    await root.send(governance.getSender(), { value: toNano('0.05') }, { $$type: 'SetThreshold', queryId: 0n, threshold: 2n });
    await root.send(
        governance.getSender(),
        { value: toNano('0.05') },
        {
            $$type: 'AllowMeasurement',
            queryId: 0n,
            measurement: BigInt('0x' + MEASUREMENT.toString('hex')),
        },
    );
    return { blockchain, governance, root, verifiers, globalId: Number(await root.getGlobalId()), openedAt: new Map() };
}

// Governance makes a change. Once a provider has registered, changes wait out the governance
// delay: the change is proposed, the clock moves forward by the delay, and it is executed.
// Returns the transactions of both steps.
export async function governed(p: Protocol, msg: Parameters<Root['send']>[3]) {
    const before = new Set((await p.root.getPendingChanges()).keys());
    const proposed = await p.root.send(p.governance.getSender(), { value: toNano('0.05') }, msg);
    const id = [...(await p.root.getPendingChanges()).keys()].find((k) => !before.has(k));
    if (id === undefined) return proposed.transactions;
    p.blockchain.now = Number((await p.root.getPendingChanges()).get(id)!.executeAt);
    const executed = await p.root.send(
        p.governance.getSender(),
        { value: toNano('0.05') },
        { $$type: 'ExecuteChange', queryId: 0n, id: BigInt(id) },
    );
    return [...proposed.transactions, ...executed.transactions];
}

export interface RegisteredProvider {
    owner: SandboxContract<TreasuryContract>;
    provider: SandboxContract<Provider>;
}

// Sends Register with `value` attached (the stake is that minus the chain's gas budget).
export async function sendRegister(p: Protocol, owner: SandboxContract<TreasuryContract>, value: bigint, listing = TEST_LISTING) {
    const provider = p.blockchain.openContract(await providerForOwner(p.root.address, owner.address));
    const result = await provider.send(
        owner.getSender(),
        { value },
        {
            $$type: 'Register',
            queryId: 1n,
            listing: buildListing(listing),
        },
    );
    return { provider, result };
}

export async function registerProvider(p: Protocol, name = 'gpu-owner', value = toNano('150')): Promise<RegisteredProvider> {
    const owner = await p.blockchain.treasury(name);
    const { provider, result } = await sendRegister(p, owner, value);
    requireSuccess(result.transactions, p.root.address, provider.address);
    return { owner, provider };
}

export interface Enclave {
    signing: KeyPair;
    encryption: Buffer; // X25519 public key (only carried, never used on-chain)
}

// An attestation request with simulated evidence (development verifiers accept it) for `binding`.
export function simulatedAttestation(binding: ReportDataBinding, reportData = expectedReportData(binding)): AttestationRequest {
    return { ...binding, evidence: { kind: 'simulated', reportData } };
}

export function makeEnclave(label = 'enclave'): Enclave {
    return { signing: seededKey(label + '-ed25519'), encryption: Buffer.alloc(32, 0x58) };
}

export function proofFields(
    p: Protocol,
    provider: Address,
    enclave: Enclave,
    overrides: Partial<AttestationFields> = {},
): AttestationFields {
    const now = p.blockchain.now ?? START_TIME;
    return {
        globalId: p.globalId,
        root: p.root.address,
        provider,
        signingKey: enclave.signing.publicKey,
        encryptionKey: enclave.encryption,
        measurement: MEASUREMENT,
        modelHash: MODEL_HASH,
        tcbStatus: Number(TCB_UP_TO_DATE),
        issuedAt: now,
        validUntil: now + 12 * 3600,
        nonce: 1n,
        ...overrides,
    };
}

export function signedProof(fields: AttestationFields, signers: KeyPair[]): { proof: Cell; signatures: Cell } {
    const proof = buildAttestationProof(fields);
    const signatures = buildSignatureChain(signers.map((k) => signProof(proof, k.secretKey)));
    return { proof, signatures };
}

// A revocation of `enclave`'s attestation issued at `attestationIssuedAt`, at the Provider
// `provider`, issued now; signed by `signers` (the protocol's threshold: two of its verifiers).
export function signedRevocation(
    p: Protocol,
    provider: Address,
    enclave: Enclave,
    attestationIssuedAt: number,
    overrides: Partial<RevocationFields> = {},
    signers: KeyPair[] = p.verifiers.slice(0, 2),
): { proof: Cell; signatures: Cell } {
    const proof = buildRevocationProof({
        globalId: p.globalId,
        root: p.root.address,
        provider,
        signingKey: enclave.signing.publicKey,
        attestationIssuedAt,
        issuedAt: p.blockchain.now ?? START_TIME,
        nonce: 1n,
        ...overrides,
    });
    return { proof, signatures: buildSignatureChain(signers.map((k) => signProof(proof, k.secretKey))) };
}

export async function submitAttestation(
    p: Protocol,
    reg: RegisteredProvider,
    proof: { proof: Cell; signatures: Cell },
    value = toNano('0.1'),
    from: SandboxContract<TreasuryContract> = reg.owner,
) {
    return reg.provider.send(
        from.getSender(),
        { value },
        {
            $$type: 'SubmitAttestation',
            queryId: 7n,
            proof: proof.proof,
            signatures: proof.signatures,
        },
    );
}

export function key256(buffer: Buffer): bigint {
    return BigInt('0x' + buffer.toString('hex'));
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

export const MODEL = 'Qwen/Qwen3-8B';

export interface AttestedProvider extends RegisteredProvider {
    enclave: Enclave;
}

// A registered provider (300 TON attached) whose enclave is attested for 12 hours.
export async function attestedProvider(p: Protocol, name = 'gpu-owner'): Promise<AttestedProvider> {
    const reg = await registerProvider(p, name, toNano('300'));
    const enclave = makeEnclave(name);
    const r = await submitAttestation(p, reg, signedProof(proofFields(p, reg.provider.address, enclave), p.verifiers.slice(0, 2)));
    requireSuccess(r.transactions, p.root.address, reg.provider.address);
    return { ...reg, enclave };
}

export interface OpenedSession {
    client: SandboxContract<TreasuryContract>;
    session: SandboxContract<Session>;
    result: Awaited<ReturnType<SandboxContract<Session>['send']>>;
}

// The client opens a session with the Provider of `providerOwner` under the protocol's Root.
export async function sendOpenSession(
    p: Protocol,
    providerOwner: Address,
    opts: { client?: string; value?: bigint; nonce?: bigint; model?: string; deadline?: number; clientKey?: Buffer } = {},
): Promise<OpenedSession> {
    const client = await p.blockchain.treasury(opts.client ?? 'client');
    const session = p.blockchain.openContract(await sessionFor(p.root.address, providerOwner, client.address, opts.nonce ?? 1n));
    const result = await session.send(
        client.getSender(),
        { value: opts.value ?? toNano('10') },
        {
            $$type: 'OpenSession',
            queryId: 3n,
            modelKey: modelKey(opts.model ?? MODEL),
            deadline: BigInt(opts.deadline ?? (p.blockchain.now ?? START_TIME) + DAY),
            clientKeyHash: clientKeyHashOf(opts.clientKey ?? CLIENT_SESSION_KEY),
        },
    );
    p.openedAt.set(session.address.toRawString(), p.blockchain.now ?? START_TIME);
    return { client, session, result };
}

// A placeholder X25519 public key for sessions whose requests the test never encrypts.
export const CLIENT_SESSION_KEY = Buffer.alloc(32, 0xc1);

export function signedReceipt(
    p: Protocol,
    session: Address,
    enclave: Enclave,
    seqno: number,
    promptTokens: bigint,
    completionTokens: bigint,
    overrides: Partial<{
        amountDue: bigint;
        globalId: number;
        session: Address;
        openedAt: number;
        lastRequestAt: number;
        cachedTokens: bigint;
        reasoningTokens: bigint;
    }> = {},
) {
    const usage = {
        promptTokens,
        cachedTokens: overrides.cachedTokens ?? 0n,
        completionTokens,
        reasoningTokens: overrides.reasoningTokens ?? 0n,
    };
    const receipt = buildUsageReceipt({
        globalId: overrides.globalId ?? p.globalId,
        session: overrides.session ?? session,
        openedAt: overrides.openedAt ?? p.openedAt.get(session.toRawString()) ?? p.blockchain.now ?? START_TIME,
        seqno,
        lastRequestAt: overrides.lastRequestAt ?? 0,
        ...usage,
        amountDue: overrides.amountDue ?? amountDue(usage, PRICES),
        resultsHash: BigInt(seqno),
    });
    return { receipt, signature: signUsageReceipt(receipt, enclave.signing.secretKey) };
}

// `from` reports two receipts of one session to that Session (ReportEquivocation).
export function sendReportEquivocation(
    session: SandboxContract<Session>,
    from: SandboxContract<TreasuryContract>,
    first: { receipt: Cell; signature: Buffer },
    second: { receipt: Cell; signature: Buffer },
    value = toNano('0.2'),
) {
    return session.send(
        from.getSender(),
        { value },
        {
            $$type: 'ReportEquivocation',
            queryId: 0n,
            first: first.receipt,
            firstSignature: first.signature,
            second: second.receipt,
            secondSignature: second.signature,
        },
    );
}
