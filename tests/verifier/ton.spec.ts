// The production chain connection (@ton/ton) against a fake TON HTTP API endpoint: the allowlist
// getter, and the wallet transfer that submits a proof, checked down to the message it sends.
import { Address, Cell, loadMessage, loadMessageRelaxed, toNano } from '@ton/core';
import { mnemonicNew, mnemonicToPrivateKey, signVerify } from '@ton/crypto';
import { WalletContractV4 } from '@ton/ton';
import { loadSubmitAttestation } from '../../wrappers';
import { proofSubmitter, rootAllowlist } from '../../tee-verifier/src/ton';
import { failoverChain, mnemonicWallet } from '../../protocol/chain';
import { fakeToncenter } from '../../testkit/fake-toncenter';

describe('@ton/ton connection', () => {
    it("reads the allowlist with Root's getter", async () => {
        const fake = await fakeToncenter({ getters: { is_measurement_allowed: [['num', '-0x1']] } });
        const allowed = await rootAllowlist(failoverChain([{ url: fake.url }]), new Address(0, Buffer.alloc(32, 1))).isAllowed(
            Buffer.alloc(32, 2),
        );
        expect(allowed).toBe(true);
        await fake.close();
    });

    it('submits a proof as SubmitAttestation to the Provider from the wallet, signed, with the current seqno', async () => {
        const fake = await fakeToncenter({ getters: { seqno: [['num', '0x5']] } });
        const mnemonic = await mnemonicNew(24);
        const key = await mnemonicToPrivateKey(mnemonic);
        const wallet = WalletContractV4.create({ workchain: 0, publicKey: key.publicKey });
        const provider = new Address(0, Buffer.alloc(32, 3));
        const proof = new Cell();
        const signatures = new Cell();
        const chain = failoverChain([{ url: fake.url }]);
        const { sender } = await mnemonicWallet(chain, mnemonic);
        await proofSubmitter(chain, sender).submit(provider, proof, signatures);
        await fake.close();

        expect(fake.sent).toHaveLength(1);
        const ext = loadMessage(Cell.fromBase64(fake.sent[0]).beginParse());
        expect(ext.info.type).toBe('external-in');
        expect(ext.info.dest!.toString()).toBe(wallet.address.toString());
        const body = ext.body.beginParse();
        const signature = body.loadBuffer(64);
        expect(signVerify(body.asCell().hash(), signature, key.publicKey)).toBe(true);
        body.loadUint(32); // wallet id
        body.loadUint(32); // valid until
        expect(body.loadUint(32)).toBe(5); // seqno
        body.loadUint(8); // op
        body.loadUint(8); // send mode
        const internal = loadMessageRelaxed(body.loadRef().beginParse());
        if (internal.info.type !== 'internal') throw new Error('not an internal message');
        expect(internal.info.dest.toString()).toBe(provider.toString());
        expect(internal.info.value.coins).toBe(toNano('0.1'));
        expect(internal.info.bounce).toBe(true);
        const submitted = loadSubmitAttestation(internal.body.beginParse());
        expect(submitted.proof.hash().equals(proof.hash())).toBe(true);
        expect(submitted.signatures.hash().equals(signatures.hash())).toBe(true);
    });
});
