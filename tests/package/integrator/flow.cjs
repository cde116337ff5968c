// An integrator's backend in plain JavaScript, using only what `npm install cocoon` gives it:
// deploys Root on @ton/sandbox through the packaged wrappers, registers and attests a provider,
// opens a session, claims a signed receipt, closes and finalizes it, and checks the balances.
// main.cjs (require) and main.mjs (import) load the package and pass it here; this prints one
// JSON line with what the test asserts.
const MODEL = 'Qwen/Qwen3-8B';
const DAY = 86400;

module.exports = async function flow({ wrappers: w, sdk, sandbox, core, tonCrypto }) {
    const { toNano } = core;
    const chain = await sandbox.Blockchain.create();
    const now = 1_800_000_000;
    chain.now = now;
    const governance = await chain.treasury('governance');
    const owner = await chain.treasury('gpu-owner');
    const client = await chain.treasury('client');

    const root = chain.openContract(
        await w.rootForDeployment({ owner: governance.address, globalId: w.GLOBAL_ID_MAINNET, params: w.EXAMPLE_PARAMS }),
    );
    const provider = chain.openContract(await w.providerForOwner(root.address, owner.address));
    const session = chain.openContract(await w.sessionFor(root.address, owner.address, client.address, 1n));
    const entry = await w.providerEntryFor(root.address, 1); // (Root's index of providers: the first registered)
    const accounts = [governance.address, owner.address, client.address, root.address, provider.address, session.address, entry.address];
    const balances = async () => Promise.all(accounts.map(async (a) => (await chain.getContract(a)).balance));
    const before = await balances();
    const transactions = [];
    const send = async (contract, from, value, message) => {
        const r = await contract.send(from.getSender(), { value: toNano(value) }, message);
        transactions.push(...r.transactions);
        const failed = w.firstFailure(r.transactions);
        if (failed) throw new Error(`${message.$$type} failed: ${failed.reason}`);
    };

    // Governance: deploy, three verifiers (two must sign), one allowed measurement
    await send(root, governance, '1', { $$type: 'DeployRoot', queryId: 0n });
    const verifiers = [1, 2, 3].map((i) => tonCrypto.keyPairFromSeed(Buffer.alloc(32, i)));
    for (const v of verifiers) {
        await send(root, governance, '0.05', { $$type: 'AddVerifier', queryId: 0n, publicKey: BigInt('0x' + v.publicKey.toString('hex')) });
    }
    await send(root, governance, '0.05', { $$type: 'SetThreshold', queryId: 0n, threshold: 2n });
    const measurement = Buffer.alloc(32, 0x4d);
    await send(root, governance, '0.05', {
        $$type: 'AllowMeasurement',
        queryId: 0n,
        measurement: BigInt('0x' + measurement.toString('hex')),
    });

    // A GPU owner registers with its stake and listing, and its enclave key is attested
    const prices = { prompt: toNano('0.05'), cachedPrompt: toNano('0.025'), completion: toNano('0.2'), reasoning: toNano('0.3') };
    const modelHash = Buffer.alloc(32, 0x3a);
    const listing = w.buildListing({
        gpuModel: 'NVIDIA H100 80GB HBM3',
        gpuCount: 8,
        vramGb: 80,
        endpoint: 'https://worker.example:8443',
        models: [{ name: MODEL, prices, modelHash }],
    });
    await send(provider, owner, '300', { $$type: 'Register', queryId: 1n, listing });
    const enclave = tonCrypto.keyPairFromSeed(Buffer.alloc(32, 9));
    const proof = w.buildAttestationProof({
        globalId: w.GLOBAL_ID_MAINNET,
        root: root.address,
        provider: provider.address,
        signingKey: enclave.publicKey,
        encryptionKey: Buffer.alloc(32, 0x58),
        measurement,
        modelHash,
        tcbStatus: Number(w.TCB_UP_TO_DATE),
        issuedAt: now,
        validUntil: now + 12 * 3600,
        nonce: 1n,
    });
    const signatures = w.buildSignatureChain(verifiers.slice(0, 2).map((k) => w.signProof(proof, k.secretKey)));
    await send(provider, owner, '0.1', { $$type: 'SubmitAttestation', queryId: 7n, proof, signatures });

    // A client opens a session, the worker's receipt is claimed, the client closes, anyone finalizes
    await send(session, client, '10', {
        $$type: 'OpenSession',
        queryId: 3n,
        modelKey: w.modelKey(MODEL),
        deadline: BigInt(now + DAY),
        clientKeyHash: w.clientKeyHashOf(Buffer.alloc(32, 0xc1)),
    });
    const opened = await sdk.readSession(sdk.sandboxChain(chain), session.address);
    const usage = { promptTokens: 1_000_000n, cachedTokens: 0n, completionTokens: 500_000n, reasoningTokens: 0n };
    const due = w.amountDue(usage, prices);
    const receipt = w.buildUsageReceipt({
        globalId: w.GLOBAL_ID_MAINNET,
        session: session.address,
        openedAt: opened.openedAt,
        seqno: 1,
        lastRequestAt: now,
        ...usage,
        amountDue: due,
        resultsHash: 1n,
    });
    await send(session, owner, '0.05', {
        $$type: 'ClaimUsage',
        queryId: 5n,
        receipt,
        signature: w.signUsageReceipt(receipt, enclave.secretKey),
    });
    const claimed = (await sdk.readSession(sdk.sandboxChain(chain), session.address)).claimed;
    await send(session, client, '0.05', { $$type: 'CloseSession', queryId: 0n });
    chain.now = now + Number(w.EXAMPLE_PARAMS.closeGracePeriod) + 1;
    await send(session, client, '0.2', { $$type: 'FinalizeSession', queryId: 6n });
    const finalized = await sdk.readSession(sdk.sandboxChain(chain), session.address);

    const after = await balances();
    const tracked = new Set(accounts.map((a) => a.toRawString()));
    const untracked = transactions.filter((t) => !tracked.has(w.accountOf(t).toRawString())).length;
    const change = after.reduce((sum, b, i) => sum + b - before[i], 0n);
    return {
        codeHashes: await w.contractCodeHashes(),
        opened: opened.status === Number(w.SESSION_OPEN),
        due: due.toString(),
        claimed: claimed.toString(),
        finalized: finalized === null || finalized.status === Number(w.SESSION_FINALIZED),
        clientPaid: (before[2] - after[2]).toString(),
        imbalance: (change + w.feesOf(transactions)).toString(), // zero when TON is conserved
        untracked,
        clientClass: typeof sdk.CocoonClient,
    };
};
