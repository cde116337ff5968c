// npx blueprint run submitAttestation --testnet --mnemonic -- --provider PROVIDER --proof FILE
// Submits a proof a verifier returned (POST /v1/attest answer, saved as JSON: { proof, signatures }).
import { NetworkProvider } from '@ton/blueprint';
import { Cell, beginCell } from '@ton/core';
import { readFileSync } from 'fs';
import * as w from '../wrappers';
import { proofBundleSchema } from '../protocol/verifier-api';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const target = await cli.deployedTarget(provider, opts, 'provider', 'Provider');
    const file = await cli.requiredOption(provider, opts, 'proof', 'Proof file (JSON from the verifier)');
    let proof: Cell, signatures: Cell;
    try {
        const d = proofBundleSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
        if (!d.success) throw new Error('not a verifier answer: expected { proof, signatures } as POST /v1/attest returns them');
        proof = d.data.proof;
        const fields = w.parseAttestationProof(proof);
        if (!fields.provider.equals(target)) throw new Error(`the proof is for provider ${fields.provider.toString()}`);
        if (fields.validUntil <= Math.floor(Date.now() / 1000)) throw new Error('the proof has expired: ask the verifier for a new one');
        signatures = w.buildSignatureChain(d.data.signatures);
    } catch (e) {
        throw new cli.InputError(`${file}: ${(e as Error).message}`);
    }
    const body = beginCell()
        .store(w.storeSubmitAttestation({ $$type: 'SubmitAttestation', queryId: 0n, proof, signatures }))
        .endCell();
    const value = opts.get('value') ? cli.parseTon(opts.get('value')!, '--value') : w.ATTESTATION_VALUE;
    return cli.sendAndReport(provider, {
        to: target,
        value,
        minValue: w.ATTESTATION_MIN_VALUE,
        body,
        what: 'SubmitAttestation',
        quiet: cli.quietOption(opts),
    });
}
