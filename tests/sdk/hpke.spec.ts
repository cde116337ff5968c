// protocol/hpke.ts against RFC 9180 (its test vector A.1.3: DHKEM(X25519, HKDF-SHA256),
// HKDF-SHA256, AES-128-GCM, Auth mode) and against @hpke/core, the maintained implementation, in
// both directions.
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { HpkeError, generateX25519KeyPair, openAuth, sealAuth } from '../../protocol/hpke';

const hex = (s: string) => Buffer.from(s, 'hex');

// RFC 9180, appendix A.1.3 (Auth Setup Information, first encryption, exported values).
const A13 = {
    info: hex('4f6465206f6e2061204772656369616e2055726e'),
    pkEm: hex('23fb952571a14a25e3d678140cd0e5eb47a0961bb18afcf85896e5453c312e76'),
    skEm: hex('ff4442ef24fbc3c1ff86375b0be1e77e88a0de1e79b30896d73411c5ff4c3518'),
    pkRm: hex('1632d5c2f71c2b38d0a8fcc359355200caa8b1ffdf28618080466c909cb69b2e'),
    skRm: hex('fdea67cf831f1ca98d8e27b1f6abeb5b7745e9d35348b80fa407ff6958f9137e'),
    pkSm: hex('8b0c70873dc5aecb7f9ee4e62406a397b350e57012be45cf53b7105ae731790b'),
    skSm: hex('dc4a146313cce60a278a5323d321f051c5707e9c45ba21a3479fecdf76fc69dd'),
    pt: hex('4265617574792069732074727574682c20747275746820626561757479'),
    aad: hex('436f756e742d30'),
    ct: hex('5fd92cc9d46dbf8943e72a07e42f363ed5f721212cd90bcfd072bfd9f44e06b80fd17824947496e21b680c141b'),
    exported: [
        ['', '28c70088017d70c896a8420f04702c5a321d9cbf0279fba899b59e51bac72c85'],
        ['00', '25dfc004b0892be1888c3914977aa9c9bbaf2c7471708a49e1195af48a6f29ce'],
        ['54657374436f6e74657874', '5a0131813abc9a522cad678eb6bafaabc43389934adb8097d23c5ff68059eb64'],
    ],
};

const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });

describe('HPKE (RFC 9180) in Auth mode', () => {
    it("reproduces RFC 9180's test vector A.1.3: encapsulation, ciphertext and exported secrets", () => {
        const sender = { publicKey: A13.pkSm, privateKey: A13.skSm };
        const sealed = sealAuth(A13.pkRm, sender, A13.info, A13.aad, A13.pt, { publicKey: A13.pkEm, privateKey: A13.skEm });
        expect(sealed.enc.toString('hex')).toBe(A13.pkEm.toString('hex'));
        expect(sealed.ciphertext.toString('hex')).toBe(A13.ct.toString('hex'));
        const opened = openAuth({ publicKey: A13.pkRm, privateKey: A13.skRm }, A13.pkSm, A13.pkEm, A13.info, A13.aad, A13.ct);
        expect(opened.plaintext).toEqual(A13.pt);
        for (const [context, value] of A13.exported) {
            expect(sealed.context.export(hex(context), 32).toString('hex')).toBe(value);
            expect(opened.context.export(hex(context), 32).toString('hex')).toBe(value);
        }
    });

    it('refuses what does not open: another aad, info, sender key, or an altered byte', () => {
        const recipient = { publicKey: A13.pkRm, privateKey: A13.skRm };
        const open = (o: Partial<{ aad: Buffer; info: Buffer; sender: Buffer; ct: Buffer }>) => () =>
            openAuth(recipient, o.sender ?? A13.pkSm, A13.pkEm, o.info ?? A13.info, o.aad ?? A13.aad, o.ct ?? A13.ct);
        expect(open({ aad: hex('00') })).toThrow(HpkeError);
        expect(open({ info: hex('00') })).toThrow(HpkeError);
        expect(open({ sender: generateX25519KeyPair().publicKey })).toThrow(HpkeError);
        const altered = Buffer.from(A13.ct);
        altered[0] ^= 1;
        expect(open({ ct: altered })).toThrow(HpkeError);
        expect(open({ ct: A13.ct.subarray(0, 10) })).toThrow(HpkeError);
        // a small-order public key gives a zero shared secret: refused
        expect(() => sealAuth(Buffer.alloc(32), { publicKey: A13.pkSm, privateKey: A13.skSm }, A13.info, A13.aad, A13.pt)).toThrow();
    });

    it('interoperates with @hpke/core both ways, exporter included', async () => {
        const recipient = generateX25519KeyPair();
        const sender = generateX25519KeyPair();
        const info = Buffer.from('cocoon-request-v1');
        const aad = Buffer.from('request-id');
        const label = Buffer.from('cocoon-response-v1');
        const key = async (k: { publicKey: Buffer; privateKey: Buffer }) => ({
            privateKey: await suite.kem.importKey('raw', k.privateKey, false),
            publicKey: await suite.kem.deserializePublicKey(k.publicKey),
        });

        // ours seals, theirs opens
        const ours = sealAuth(recipient.publicKey, sender, info, aad, Buffer.from('to them'));
        const theirRecipient = await suite.createRecipientContext({
            recipientKey: await key(recipient),
            senderPublicKey: await suite.kem.deserializePublicKey(sender.publicKey),
            enc: ours.enc,
            info,
        });
        expect(Buffer.from(await theirRecipient.open(ours.ciphertext, aad)).toString()).toBe('to them');
        expect(Buffer.from(await theirRecipient.export(label, 16))).toEqual(ours.context.export(label, 16));

        // theirs seals, ours opens
        const theirSender = await suite.createSenderContext({
            recipientPublicKey: await suite.kem.deserializePublicKey(recipient.publicKey),
            senderKey: await key(sender),
            info,
        });
        const ct = Buffer.from(await theirSender.seal(Buffer.from('to us'), aad));
        const opened = openAuth(recipient, sender.publicKey, Buffer.from(theirSender.enc), info, aad, ct);
        expect(opened.plaintext.toString()).toBe('to us');
        expect(opened.context.export(label, 16)).toEqual(Buffer.from(await theirSender.export(label, 16)));
    });
});
