// The client checks the provider before every request (issue 13, found by the outside review):
// a revocation, a jail, a pause or a re-attestation the client's policy refuses stops the very
// next request, whatever attestationCheckMs says (that only reuses what Root says). A stand-in
// worker on loopback counts the encrypted requests that reach the provider's endpoint.
import '@ton/test-utils';
import { createServer, Server } from 'http';
import { AddressInfo } from 'net';
import { Contract, toNano } from '@ton/core';
import { Provider, TCB_OUT_OF_DATE } from '../../wrappers';
import { CocoonClient, ClientOptions, ClientSession } from '../../sdk';
import { ChainAccess, sandboxChain } from '../../protocol/chain';
import {
    AttestedProvider,
    MODEL,
    Protocol,
    TEST_LISTING,
    deployProtocol,
    makeEnclave,
    proofFields,
    requireSuccess,
    sendRegister,
    signedProof,
    submitAttestation,
    signedRevocation,
} from '../../testkit';

const ask = { messages: [{ role: 'user' as const, content: 'my secret prompt' }] };

describe('the client and a provider that stops being trustworthy', () => {
    let p: Protocol;
    let prov: AttestedProvider;
    let server: Server;
    let received = 0;

    beforeEach(async () => {
        received = 0;
        server = createServer((req, res) => {
            req.resume();
            req.on('end', () => {
                received += 1;
                res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
            });
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        p = await deployProtocol();
        const owner = await p.blockchain.treasury('gpu-owner');
        const { provider, result } = await sendRegister(p, owner, toNano('300'), { ...TEST_LISTING, endpoint });
        requireSuccess(result.transactions, p.root.address, provider.address);
        const enclave = makeEnclave('gpu-owner');
        const r = await submitAttestation(
            p,
            { owner, provider },
            signedProof(proofFields(p, provider.address, enclave), p.verifiers.slice(0, 2)),
        );
        requireSuccess(r.transactions, p.root.address, provider.address);
        prov = { owner, provider, enclave };
    });

    afterEach(() => new Promise<void>((r) => server.close(() => r())));

    async function clientWith(o: Partial<ClientOptions> = {}): Promise<CocoonClient> {
        const wallet = await p.blockchain.treasury('sdk-client');
        // (the treasury's own send: it carries the Session's state init)
        const sender = { address: wallet.address, send: (a: Parameters<typeof wallet.send>[0]) => wallet.send(a) };
        return new CocoonClient({
            chain: sandboxChain(p.blockchain),
            wallet: sender as never,
            root: p.root.address,
            confirmTimeoutMs: 2000,
            ...o,
        });
    }

    const openWith = (client: CocoonClient) =>
        client.openSession(prov.provider.address, { model: MODEL, budget: toNano('5'), durationSeconds: 3600 });

    async function open(o: Partial<ClientOptions> = {}): Promise<ClientSession> {
        return openWith(await clientWith(o));
    }

    // one request: it reaches the stand-in worker, which answers nothing the SDK can read
    async function chatReaches(session: ClientSession): Promise<boolean> {
        const before = received;
        const e = await session.chat(ask).catch((x) => x);
        return received > before && e?.code === 'bad-answer';
    }

    async function revoke() {
        const a = (await prov.provider.getAttestation())!;
        const { proof, signatures } = signedRevocation(p, prov.provider.address, prov.enclave, Number(a.issuedAt));
        const reporter = await p.blockchain.treasury('reporter');
        const r = await prov.provider.send(
            reporter.getSender(),
            { value: toNano('0.3') },
            { $$type: 'SubmitRevocation', queryId: 0n, proof, signatures },
        );
        requireSuccess(r.transactions, p.root.address, prov.provider.address);
        expect((await prov.provider.getAttestation())!.validUntil).toBe(0n); // jailed, attestation invalidated
    }

    it('sends nothing more once the enclave key is revoked (the provider jailed)', async () => {
        const session = await open();
        expect(await chatReaches(session)).toBe(true);
        await revoke();
        expect(await chatReaches(session)).toBe(false);
    });

    it('sends nothing more once the owner pauses the provider', async () => {
        const session = await open();
        expect(await chatReaches(session)).toBe(true);
        const r = await prov.provider.send(prov.owner.getSender(), { value: toNano('0.05') }, { $$type: 'PauseProvider', queryId: 0n });
        requireSuccess(r.transactions, prov.owner.address, prov.provider.address);
        expect(await chatReaches(session)).toBe(false);
    });

    it('reuses the provider read only when told to (providerCheckMs), and then only for that long', async () => {
        const session = await open({ providerCheckMs: 60_000 });
        expect(await chatReaches(session)).toBe(true);
        const r = await prov.provider.send(prov.owner.getSender(), { value: toNano('0.05') }, { $$type: 'PauseProvider', queryId: 0n });
        requireSuccess(r.transactions, prov.owner.address, prov.provider.address);
        expect(await chatReaches(session)).toBe(true); // the window the client chose
    });

    it("shares the provider read among the client's sessions with that provider, joins a read under way, and keeps no failed read", async () => {
        let reads = 0;
        let failing = false;
        const chain = sandboxChain(p.blockchain);
        const counting: ChainAccess = {
            ...chain,
            open: <T extends Contract>(c: T) => {
                if (c instanceof Provider) {
                    reads += 1;
                    if (failing) throw new Error('the endpoint is down');
                }
                return chain.open(c);
            },
        };
        // (no retries: the stand-in worker's answers are unreadable, and every try checks the provider)
        const client = await clientWith({ chain: counting, providerCheckMs: 60_000, retries: 0 });
        const [one, two] = [await openWith(client), await openWith(client)];
        reads = 0;
        expect(await Promise.all([chatReaches(one), chatReaches(two), chatReaches(one), chatReaches(two)])).toEqual([
            true,
            true,
            true,
            true,
        ]);
        expect(await chatReaches(two)).toBe(true);
        expect(reads).toBe(1); // five requests of two sessions: one read, joined while under way, then reused

        // a read that failed is not what the next request gets
        client.forgetProviderCheck(prov.provider.address);
        failing = true;
        await expect(one.chat(ask)).rejects.toMatchObject({ code: 'chain-unavailable' });
        failing = false;
        expect(await chatReaches(one)).toBe(true);
        expect(reads).toBe(3);

        // without providerCheckMs every request reads
        const every = await clientWith({ chain: counting, retries: 0 });
        const session = await openWith(every);
        reads = 0;
        expect(await Promise.all([chatReaches(session), chatReaches(session)])).toEqual([true, true]);
        expect(reads).toBe(2);
    });

    it('sends nothing more once the provider re-attests with a TCB status the client refuses (same keys)', async () => {
        const session = await open();
        expect(await chatReaches(session)).toBe(true);
        p.blockchain.now! += 60;
        const proof = signedProof(
            proofFields(p, prov.provider.address, prov.enclave, { tcbStatus: Number(TCB_OUT_OF_DATE), nonce: 9n }),
            p.verifiers.slice(0, 2),
        );
        requireSuccess((await submitAttestation(p, prov, proof)).transactions, p.root.address, prov.provider.address);
        expect(await chatReaches(session)).toBe(false);
    });

    it('names why: tcb-not-accepted, provider-unavailable', async () => {
        const session = await open({ attestationCheckMs: 0 });
        expect(await chatReaches(session)).toBe(true);
        p.blockchain.now! += 60;
        const proof = signedProof(
            proofFields(p, prov.provider.address, prov.enclave, { tcbStatus: Number(TCB_OUT_OF_DATE), nonce: 9n }),
            p.verifiers.slice(0, 2),
        );
        requireSuccess((await submitAttestation(p, prov, proof)).transactions, p.root.address, prov.provider.address);
        const before = received;
        await expect(session.chat(ask)).rejects.toMatchObject({ code: 'tcb-not-accepted' });
        const paused = await open({ attestationCheckMs: 0, acceptedTcbStatuses: [0, Number(TCB_OUT_OF_DATE)] });
        await prov.provider.send(prov.owner.getSender(), { value: toNano('0.05') }, { $$type: 'PauseProvider', queryId: 0n });
        await expect(paused.chat(ask)).rejects.toMatchObject({ code: 'provider-unavailable' });
        expect(received).toBe(before);
    });
});
