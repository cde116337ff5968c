// A devnet with something to show, made through its toncenter API by the wallets it funded, as a
// user would: a provider registered with 150 TON and attested by the devnet's verifiers, one
// session opened, claimed, closed and finalized (its fee in Root's treasury), a second session
// left open (collateral locked), and a verifier change waiting in governance's timelock.
import { Address, Cell, beginCell, toNano } from '@ton/core';
import { readFileSync } from 'fs';
import {
    AttestationFields,
    CLOSE_VALUE,
    CLAIM_VALUE,
    FINALIZE_VALUE,
    GOVERNANCE_VALUE,
    SESSION_OPEN_OVERHEAD,
    TCB_SIMULATED,
    buildAttestationProof,
    buildListing,
    buildSignatureChain,
    buildUsageReceipt,
    clientKeyHashOf,
    amountDue,
    ed25519FromSeed,
    modelKey,
    providerForOwner,
    sessionFor,
    signProof,
    signUsageReceipt,
    storeAddVerifier,
    storeClaimUsage,
    storeCloseSession,
    storeFinalizeSession,
    storeOpenSession,
    storeRegister,
    storeSubmitAttestation,
} from '../../wrappers';
import { failoverChain, mnemonicWallet } from '../../protocol/chain';
import { readProvider, readSession } from '../../protocol/state';
import { DEMO_MODEL, DEMO_MODEL_HASH } from '../../testkit/local-network';
import { Devnet, startDevnet } from '../../devnet/src';

export const GPU_MODEL = 'NVIDIA H100 80GB HBM3';
export const PRICES = { prompt: toNano('1'), cachedPrompt: toNano('0.5'), completion: toNano('3'), reasoning: toNano('3') };
export const USAGE = { promptTokens: 1_000_000n, cachedTokens: 0n, completionTokens: 1_000_000n, reasoningTokens: 0n }; // 4 TON at PRICES
export const PENDING_VERIFIER = Buffer.alloc(32, 0x77);

export interface BusyDevnet {
    net: Devnet;
    rpc: string;
    root: Address;
    provider: Address;
    finalizedSession: Address;
    openSession: Address;
}

// A new devnet (its Root deployed, nothing else yet); busyDevnet puts the state on it.
export function newDevnet(dir: string): Promise<Devnet> {
    return startDevnet({ dir, port: 0, modelHash: DEMO_MODEL_HASH });
}

export async function busyDevnet(net: Devnet): Promise<BusyDevnet> {
    const rpc = net.url + 'jsonRPC';
    // (the devnet's clock, which moves forward below: transfers valid for a minute of it)
    const chain = failoverChain([{ url: rpc }], { followChainClock: true });
    const wallet = (i: number) => mnemonicWallet(chain, net.info.wallets[i].mnemonic.split(' '), { pollMs: 20 });
    const [governance, owner, client] = [await wallet(0), await wallet(1), await wallet(3)];
    const root = Address.parse(net.info.root!);
    const cell = (store: (b: import('@ton/core').Builder) => void) => beginCell().store(store).endCell();

    // the provider: registered with 150 TON, then attested by both development verifiers
    const provider = await providerForOwner(root, owner.address);
    const listing = buildListing({
        gpuModel: GPU_MODEL,
        gpuCount: 8,
        vramGb: 80,
        endpoint: 'https://worker.example',
        models: [{ name: DEMO_MODEL, prices: PRICES, modelHash: DEMO_MODEL_HASH }],
    });
    await owner.sender.send({
        to: provider.address,
        value: toNano('150'),
        init: provider.init,
        bounce: false,
        body: cell(storeRegister({ $$type: 'Register', queryId: 1n, listing })),
    });
    const enclave = ed25519FromSeed(Buffer.alloc(32, 0xe1));
    const now = net.chain.now();
    const fields: AttestationFields = {
        globalId: net.info.globalId,
        root,
        provider: provider.address,
        signingKey: enclave.publicKey,
        encryptionKey: Buffer.alloc(32, 0x58),
        measurement: Buffer.from(net.info.measurement!, 'hex'),
        modelHash: DEMO_MODEL_HASH,
        tcbStatus: Number(TCB_SIMULATED),
        issuedAt: now,
        validUntil: now + 12 * 3600,
        nonce: 1n,
    };
    const proof = buildAttestationProof(fields);
    const verifiers = net.info.verifierKeyFiles.map((f) => ed25519FromSeed(Buffer.from(readFileSync(f, 'utf8').trim(), 'hex')));
    const signatures = buildSignatureChain(verifiers.map((k) => signProof(proof, k.secretKey)));
    await owner.sender.send({
        to: provider.address,
        value: toNano('0.1'),
        body: cell(storeSubmitAttestation({ $$type: 'SubmitAttestation', queryId: 2n, proof, signatures })),
    });
    const attested = await readProvider(chain, provider.address);
    if (attested?.status !== 2 || !attested.attestation)
        throw new Error(`the provider was not registered and attested: ${JSON.stringify(attested?.status)}`);

    // governance: a verifier added now waits for the timelock (a provider has registered)
    await governance.sender.send({
        to: root,
        value: GOVERNANCE_VALUE,
        body: cell(storeAddVerifier({ $$type: 'AddVerifier', queryId: 3n, publicKey: BigInt('0x' + PENDING_VERIFIER.toString('hex')) })),
    });

    // two sessions of 10 TON: the first is used, closed and finalized, the second stays open
    const open = async (nonce: bigint) => {
        const session = await sessionFor(root, owner.address, client.address, nonce);
        await client.sender.send({
            to: session.address,
            value: toNano('10') + SESSION_OPEN_OVERHEAD,
            init: session.init,
            bounce: true,
            body: cell(
                storeOpenSession({
                    $$type: 'OpenSession',
                    queryId: nonce,
                    modelKey: modelKey(DEMO_MODEL),
                    deadline: BigInt(net.chain.now() + 86_400),
                    clientKeyHash: clientKeyHashOf(Buffer.alloc(32, 0xc1)),
                }),
            ),
        });
        const state = await readSession(chain, session.address);
        if (state?.status !== 2) throw new Error(`session ${nonce} did not open: ${JSON.stringify(state?.status)}`);
        return { address: session.address, openedAt: state.openedAt };
    };
    const used = await open(1n);
    const receipt: Cell = buildUsageReceipt({
        globalId: net.info.globalId,
        session: used.address,
        openedAt: used.openedAt,
        seqno: 1,
        lastRequestAt: net.chain.now(),
        ...USAGE,
        amountDue: amountDue(USAGE, PRICES),
        resultsHash: 1n,
    });
    const signature = signUsageReceipt(receipt, enclave.secretKey);
    await owner.sender.send({
        to: used.address,
        value: CLAIM_VALUE,
        body: cell(storeClaimUsage({ $$type: 'ClaimUsage', queryId: 4n, signature, receipt })),
    });
    await client.sender.send({
        to: used.address,
        value: CLOSE_VALUE,
        body: cell(storeCloseSession({ $$type: 'CloseSession', queryId: 5n })),
    });
    // the claim window (closeGracePeriod, an hour) passes
    const advanced = await fetch(net.url.replace('/api/v2/', '/admin/advance'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ seconds: 3700 }),
    });
    if (!advanced.ok) throw new Error(`the devnet's clock did not move: ${advanced.status}`);
    await client.sender.send({
        to: used.address,
        value: FINALIZE_VALUE,
        body: cell(storeFinalizeSession({ $$type: 'FinalizeSession', queryId: 6n })),
    });
    const finalized = await readSession(chain, used.address);
    if (finalized?.status !== 4 || finalized.claimed !== amountDue(USAGE, PRICES)) {
        throw new Error(`the first session was not claimed and finalized: ${JSON.stringify({ status: finalized?.status })}`);
    }
    const second = await open(2n);
    return { net, rpc, root, provider: provider.address, finalizedSession: used.address, openSession: second.address };
}
