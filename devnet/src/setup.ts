// What a new devnet holds before anyone connects: funded wallets from mnemonics printed at start
// (the first is governance, Root's owner), development verifier keys, and the protocol deployed
// (Root with those verifiers and the development measurement of the model it is told), written
// to the state directory so that every tool can be pointed at them.
import { Address, Cell, SendMode, external, internal, toNano } from '@ton/core';
import { WalletContractV4 } from '@ton/ton';
import { mnemonicNew, mnemonicToPrivateKey } from '@ton/crypto';
import { randomBytes } from 'crypto';
import { writeFileSync } from 'fs';
import { join } from 'path';
import { EXAMPLE_PARAMS, GLOBAL_ID_TESTNET, accountOf, ed25519FromSeed, firstFailure, rootForDeployment } from '../../wrappers';
import { NO_GPU_EVIDENCE } from '../../protocol/evidence';
import { simulatedMeasurement } from '../../tee-verifier/src/attest';
import { DevChain } from './chain';
import { developmentRootSetup } from '../../testkit/local-network';

/** What `npm run devnet` set up, as written to STATE/devnet.json. */
export interface DevnetInfo {
    globalId: number;
    root?: string; // absent with --no-deploy
    wallets: { name: string; address: string; mnemonic: string }[];
    verifierKeyFiles: string[]; // ed25519 seeds (hex), for `npm run verifier -- serve --dev --key-file FILE`
    modelHash?: string; // the model whose development measurement Root allowlists
    measurement?: string;
    supply: string; // nanotons minted at set-up (the faucet's), the whole of the chain's TON
}

export const WALLET_NAMES = ['governance', 'provider', 'verifier', 'client'];
const FUNDS = toNano('1000000');

export async function setUpDevnet(
    chain: DevChain,
    dir: string,
    o: { deploy: boolean; verifiers: number; modelHash: Buffer; wallets: number },
): Promise<DevnetInfo> {
    const bc = chain.blockchain;
    chain.tick();
    const faucet = await bc.treasury('devnet-faucet', { balance: FUNDS * BigInt(o.wallets + 1) });
    // all the TON there will ever be: the faucet's, and the fees of the transaction that deployed
    // it, which the sandbox does not take from the balance it was given
    const { balances, fees } = chain.ledger();
    const supply = balances + fees;
    const wallets: DevnetInfo['wallets'] = [];
    const opened = [];
    for (let i = 0; i < o.wallets; i++) {
        const mnemonic = await mnemonicNew(24);
        const key = await mnemonicToPrivateKey(mnemonic);
        const wallet = WalletContractV4.create({ workchain: 0, publicKey: key.publicKey });
        await faucet.send({ to: wallet.address, value: FUNDS, bounce: false });
        if ((await bc.getContract(wallet.address)).balance < FUNDS) throw new Error(`funding ${wallet.address.toString()} failed`);
        wallets.push({
            name: WALLET_NAMES[i] ?? `wallet-${i + 1}`,
            address: wallet.address.toString({ testOnly: true, bounceable: false }),
            mnemonic: mnemonic.join(' '),
        });
        opened.push({ wallet, key });
    }
    const verifierKeyFiles: string[] = [];
    const verifierKeys = [];
    for (let i = 0; i < o.verifiers; i++) {
        const seed = randomBytes(32);
        const file = join(dir, `verifier-${i + 1}.seed`);
        writeFileSync(file, seed.toString('hex') + '\n', { mode: 0o600 });
        verifierKeyFiles.push(file);
        verifierKeys.push(ed25519FromSeed(seed));
    }
    const info: DevnetInfo = { globalId: GLOBAL_ID_TESTNET, wallets, verifierKeyFiles, supply: supply.toString() };
    if (o.deploy) {
        const governance = opened[0];
        const w = governance.wallet;
        const root = await rootForDeployment({ owner: w.address, globalId: GLOBAL_ID_TESTNET, params: EXAMPLE_PARAMS });
        let seqno = 0;
        // Governance's transfers, signed here and applied with everything they set off.
        const send = async (to: Address, value: bigint, body: Cell, init?: { code: Cell; data: Cell }) => {
            const transfer = w.createTransfer({
                seqno,
                secretKey: governance.key.secretKey,
                sendMode: SendMode.PAY_GAS_SEPARATELY,
                messages: [internal({ to, value, body, init, bounce: true })],
            });
            const r = await bc.sendMessage(external({ to: w.address, init: seqno === 0 ? w.init : undefined, body: transfer }));
            seqno += 1;
            const failed = firstFailure(r.transactions);
            if (failed || !r.transactions.some((t) => accountOf(t).equals(to))) {
                throw new Error(`setting up the protocol failed at ${to.toString()}: ${failed?.reason ?? 'the message did not arrive'}`);
            }
        };
        const keys = verifierKeys.map((k) => k.publicKey);
        for (const m of developmentRootSetup(root, keys, o.modelHash)) await send(root.address, m.value, m.body, m.init);
        const measurement = simulatedMeasurement(NO_GPU_EVIDENCE, o.modelHash);
        info.root = root.address.toString({ testOnly: true });
        info.modelHash = o.modelHash.toString('hex');
        info.measurement = measurement.toString('hex');
    }
    chain.seqno += 1;
    chain.save();
    writeFileSync(join(dir, 'devnet.json'), JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
    return info;
}
