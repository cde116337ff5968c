// `npm run demo`: the protocol's main flow on the embedded @ton/sandbox chain, step by step:
// deploy and configure Root, register and stake a GPU provider, attest its enclave with 2-of-3
// verifier signatures, then show every party's balance before and after and that no TON was
// created or lost. (The worker, client sessions and the real TEE verifier join in later issues.)
import { Blockchain, BlockchainTransaction, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, fromNano, toNano } from '@ton/core';
import { randomBytes } from 'crypto';
import {
    GLOBAL_ID_MAINNET,
    PROVIDER_STATUS_NAMES,
    EXAMPLE_PARAMS,
    TCB_UP_TO_DATE,
    buildAttestationProof,
    buildListing,
    buildSignatureChain,
    describeExitCode,
    ed25519FromSeed,
    providerForOwner,
    rootForDeployment,
    signProof,
} from '../wrappers';

const DAY = 86_400;

const PARAMS = EXAMPLE_PARAMS;

let step = 0;
function say(text: string) {
    step += 1;
    console.log(`\n[${step}] ${text}`);
}

// Fails loudly, naming the contract error, if any transaction of a step failed.
function requireAllSucceeded(transactions: BlockchainTransaction[]) {
    for (const tx of transactions) {
        if (tx.description.type !== 'generic') continue;
        const compute = tx.description.computePhase;
        if (tx.description.aborted && compute.type === 'vm') {
            throw new Error(`a transaction failed: ${describeExitCode(compute.exitCode)} (exit code ${compute.exitCode})`);
        }
    }
}

let fees = 0n;
function account(transactions: BlockchainTransaction[]) {
    requireAllSucceeded(transactions);
    for (const tx of transactions) {
        fees += tx.totalFees.coins;
        for (const m of tx.outMessages.values()) if (m.info.type === 'internal') fees += m.info.forwardFee;
    }
}

async function main() {
    const started = Date.now();
    const blockchain = await Blockchain.create();
    const governance = await blockchain.treasury('governance');
    const gpuOwner = await blockchain.treasury('gpu-owner');
    const parties: [string, () => Address][] = [
        ['governance', () => governance.address],
        ['GPU owner', () => gpuOwner.address],
    ];
    const balances = async () => {
        const out = new Map<string, bigint>();
        for (const [name, addr] of parties) out.set(name, (await blockchain.getContract(addr())).balance);
        return out;
    };

    const root = blockchain.openContract(
        await rootForDeployment({ owner: governance.address, globalId: GLOBAL_ID_MAINNET, params: PARAMS }),
    );
    const provider = blockchain.openContract(await providerForOwner(root.address, gpuOwner.address));
    parties.push(['Root', () => root.address], ['Provider', () => provider.address]);
    const before = await balances();

    say(`Governance deploys Root at ${root.address.toString()}`);
    account((await root.send(governance.getSender(), { value: toNano('1') }, { $$type: 'DeployRoot', queryId: 1n })).transactions);
    console.log(
        `    min stake ${fromNano(PARAMS.minProviderStake)} TON, protocol fee ${Number(PARAMS.protocolFeeBps) / 100}%, unbonding ${Number(PARAMS.unbondingPeriod) / DAY} days`,
    );

    say('Governance adds three verifiers, sets the threshold to 2 and allows one TEE measurement');
    const verifiers = [0, 1, 2].map(() => ed25519FromSeed(randomBytes(32)));
    const measurement = randomBytes(32);
    for (const v of verifiers) {
        account(
            (
                await root.send(
                    governance.getSender(),
                    { value: toNano('0.05') },
                    { $$type: 'AddVerifier', queryId: 2n, publicKey: BigInt('0x' + v.publicKey.toString('hex')) },
                )
            ).transactions,
        );
    }
    account(
        (await root.send(governance.getSender(), { value: toNano('0.05') }, { $$type: 'SetThreshold', queryId: 3n, threshold: 2n }))
            .transactions,
    );
    account(
        (
            await root.send(
                governance.getSender(),
                { value: toNano('0.05') },
                { $$type: 'AllowMeasurement', queryId: 4n, measurement: BigInt('0x' + measurement.toString('hex')) },
            )
        ).transactions,
    );
    const set = await root.getVerifierSet();
    console.log(`    verifier set: ${set.count} keys, threshold ${set.threshold}, epoch ${set.epoch}`);

    say('The GPU owner registers its Provider with 150 TON attached and a listing of two models');
    const listing = buildListing({
        gpuModel: 'NVIDIA H100 80GB HBM3',
        gpuCount: 8,
        vramGb: 80,
        endpoint: 'https://127.0.0.1:8443',
        models: [
            { name: 'Qwen/Qwen3-8B', pricePerMillionIn: toNano('0.05'), pricePerMillionOut: toNano('0.2') },
            { name: 'meta-llama/Llama-3.1-70B-Instruct', pricePerMillionIn: toNano('0.4'), pricePerMillionOut: toNano('1.2') },
        ],
    });
    account(
        (await provider.send(gpuOwner.getSender(), { value: toNano('150') }, { $$type: 'Register', queryId: 5n, listing })).transactions,
    );
    console.log(
        `    Provider ${provider.address.toString()}: ${PROVIDER_STATUS_NAMES[Number(await provider.getStatus())]}, stake ${fromNano(await provider.getStake())} TON`,
    );

    say('Two of the three verifiers sign an attestation proof for the enclave; the owner submits it');
    const enclaveKey = ed25519FromSeed(randomBytes(32));
    const now = Math.floor(Date.now() / 1000);
    blockchain.now = now;
    const proof = buildAttestationProof({
        globalId: GLOBAL_ID_MAINNET,
        root: root.address,
        provider: provider.address,
        signingKey: enclaveKey.publicKey,
        encryptionKey: randomBytes(32),
        measurement,
        tcbStatus: Number(TCB_UP_TO_DATE),
        issuedAt: now,
        validUntil: now + 12 * 3600,
        nonce: 1n,
    });
    const signatures = buildSignatureChain(verifiers.slice(0, 2).map((v) => signProof(proof, v.secretKey)));
    account(
        (
            await provider.send(
                gpuOwner.getSender(),
                { value: toNano('0.1') },
                { $$type: 'SubmitAttestation', queryId: 6n, proof, signatures },
            )
        ).transactions,
    );
    const attestation = await provider.getAttestation();
    console.log(
        `    attested until ${new Date(Number(attestation!.validUntil) * 1000).toISOString()} under verifier epoch ${attestation!.verifierEpoch}`,
    );

    say('The GPU owner adds 50 TON of stake');
    account((await provider.send(gpuOwner.getSender(), { value: toNano('50') }, { $$type: 'Stake', queryId: 7n })).transactions);
    console.log(
        `    stake ${fromNano(await provider.getStake())} TON, of which ${fromNano(await provider.getFreeStake())} TON may be unstaked`,
    );

    say('Balances');
    const after = await balances();
    const rows = parties.map(([name]) => ({
        party: name,
        'before (TON)': fromNano(before.get(name)!),
        'after (TON)': fromNano(after.get(name)!),
        'change (TON)': fromNano(after.get(name)! - before.get(name)!),
    }));
    console.table(rows);
    let delta = 0n;
    for (const [name] of parties) delta += after.get(name)! - before.get(name)!;
    console.log(`    network fees: ${fromNano(fees)} TON; sum of changes + fees = ${fromNano(delta + fees)} TON`);
    if (delta + fees !== 0n) throw new Error('TON was not conserved');
    console.log(`\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s: TON conserved.`);
}

main().catch((e) => {
    console.error(`demo failed: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
});
