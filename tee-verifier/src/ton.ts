// Production connections: Root's allowlist and the Provider's attestation read with @ton/ton
// getters, proofs submitted through a wallet whose mnemonic the operator supplies.
import { Address, Cell, beginCell, toNano } from '@ton/core';
import { TonClient, WalletContractV4, internal } from '@ton/ton';
import { mnemonicToPrivateKey } from '@ton/crypto';
import { Provider, Root, storeSubmitAttestation } from '../../wrappers';
import { AllowlistReader, VerifierSetReader } from './attest';
import { Chain } from './submitter';

export function tonClient(endpoint: string, apiKey?: string): TonClient {
    return new TonClient({ endpoint, apiKey, timeout: 10_000 });
}

export function tonAllowlist(client: TonClient, root: Address): AllowlistReader {
    const contract = client.open(Root.fromAddress(root));
    return { isAllowed: async (m) => contract.getIsMeasurementAllowed(BigInt('0x' + m.toString('hex'))) };
}

export function tonVerifierSet(client: TonClient, root: Address): VerifierSetReader {
    const contract = client.open(Root.fromAddress(root));
    return { isVerifier: async (k) => contract.getIsVerifier(BigInt('0x' + k.toString('hex'))) };
}

// Proof submission through a v4 wallet. The value attached covers the Provider -> Root ->
// Provider round trip; what it does not spend comes back to the wallet.
export async function tonChain(client: TonClient, mnemonic: string[], value = toNano('0.1')): Promise<Chain> {
    const key = await mnemonicToPrivateKey(mnemonic);
    const wallet = client.open(WalletContractV4.create({ workchain: 0, publicKey: key.publicKey }));
    return {
        attestedIssuedAt: async (provider) => {
            const a = await client.open(Provider.fromAddress(provider)).getAttestation();
            return Number(a?.issuedAt ?? 0n);
        },
        submit: async (provider: Address, proof: Cell, signatures: Cell) => {
            const body = beginCell()
                .store(storeSubmitAttestation({ $$type: 'SubmitAttestation', queryId: BigInt(Date.now()), proof, signatures }))
                .endCell();
            const seqno = await wallet.getSeqno();
            await wallet.sendTransfer({
                seqno,
                secretKey: key.secretKey,
                messages: [internal({ to: provider, value, bounce: true, body })],
            });
        },
    };
}
