// The verifier's view of the chain (protocol/chain.ts): Root's allowlist and verifier set read
// with its getters, and proofs submitted to the Provider from the operator's wallet.
import { Address, Cell, Sender, beginCell } from '@ton/core';
import { ATTESTATION_VALUE, Provider, Root, storeSubmitAttestation } from '../../wrappers';
import { ChainAccess } from '../../protocol/chain';
import { AllowlistReader, VerifierSetReader } from './attest';
import { Chain } from './submitter';

export function rootAllowlist(chain: ChainAccess, root: Address): AllowlistReader {
    const contract = chain.open(Root.fromAddress(root));
    return { isAllowed: async (m) => contract.getIsMeasurementAllowed(BigInt('0x' + m.toString('hex'))) };
}

export function rootVerifierSet(chain: ChainAccess, root: Address): VerifierSetReader {
    const contract = chain.open(Root.fromAddress(root));
    return { isVerifier: async (k) => contract.getIsVerifier(BigInt('0x' + k.toString('hex'))) };
}

// Proof submission: SubmitAttestation to the Provider with ATTESTATION_VALUE (the Provider ->
// Root -> Provider round trip); what it does not spend comes back to the wallet.
export function proofSubmitter(chain: ChainAccess, wallet: Sender): Chain {
    return {
        attestedIssuedAt: async (provider) => {
            const a = await chain.open(Provider.fromAddress(provider)).getAttestation();
            return Number(a?.issuedAt ?? 0n);
        },
        submit: async (provider: Address, proof: Cell, signatures: Cell) => {
            const body = beginCell()
                .store(storeSubmitAttestation({ $$type: 'SubmitAttestation', queryId: BigInt(Date.now()), proof, signatures }))
                .endCell();
            await wallet.send({ to: provider, value: ATTESTATION_VALUE, bounce: true, body });
        },
    };
}
