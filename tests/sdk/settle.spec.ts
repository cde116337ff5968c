// CocoonClient.settleSession for a session the Provider never accepted (still OPENING): the
// contract refunds it by FinalizeSession once OPENING_TIMEOUT is over, so the client sends one
// then, and says when before. (The sandbox accepts or bounces at once: OPENING is shown here with
// the reads of the chain replaced: a Session of a Provider whose Root and owner give its address.)
import { Address, Cell } from '@ton/core';
import { CocoonClient } from '../../sdk';
import { FINALIZE_VALUE, OPENING_TIMEOUT, SESSION_OPENING, loadFinalizeSession, sessionFor } from '../../wrappers';

const OPENED_AT = 1_000_000;
const [ROOT, OWNER, CLIENT] = [9, 2, 7].map((fill) => new Address(0, Buffer.alloc(32, fill)));
jest.mock('../../protocol/state', () => ({
    ...jest.requireActual('../../protocol/state'),
    readProvider: async () => ({ root: ROOT, owner: OWNER }),
    readSession: async (_chain: unknown, address: Address) => ({
        address,
        provider: new Address(0, Buffer.alloc(32, 1)),
        client: CLIENT,
        nonce: 5n,
        status: 1, // SESSION_OPENING
        budget: 5_000_000_000n,
        claimed: 0n,
        seqno: 0,
        deadline: 0,
        closedAt: 0,
        openedAt: 1_000_000,
        clientKeyHash: 0n,
        terms: null,
    }),
}));

it('finalizes a session stuck in OPENING once OPENING_TIMEOUT is over, and says when before', async () => {
    expect(Number(SESSION_OPENING)).toBe(1);
    let now = OPENED_AT + 10;
    const sent: { value: bigint; body?: Cell | null }[] = [];
    const client = new CocoonClient({
        chain: { now: () => now } as never,
        wallet: {
            address: new Address(0, Buffer.alloc(32, 7)),
            send: async (m: { value: bigint; body?: Cell | null }) => void sent.push(m),
        },
        root: ROOT,
    });
    const session = (await sessionFor(ROOT, OWNER, CLIENT, 5n)).address;
    await expect(client.settleSession(new Address(0, Buffer.alloc(32, 3)))).rejects.toMatchObject({ code: 'not-a-session' });
    expect(await client.settleSession(session)).toEqual({ step: 'waiting', at: OPENED_AT + Number(OPENING_TIMEOUT) });
    expect(sent).toHaveLength(0);
    now = OPENED_AT + Number(OPENING_TIMEOUT);
    expect(await client.settleSession(session)).toEqual({ step: 'finalizing' });
    expect(sent).toHaveLength(1);
    expect(sent[0].value).toBe(FINALIZE_VALUE);
    expect(loadFinalizeSession(sent[0].body!.beginParse()).$$type).toBe('FinalizeSession'); // (throws for another message)
});

it("refuses to settle another wallet's session", async () => {
    const client = new CocoonClient({
        chain: { now: () => OPENED_AT } as never,
        wallet: { address: new Address(0, Buffer.alloc(32, 8)), send: async () => {} }, // not the session's client
        root: new Address(0, Buffer.alloc(32, 9)),
    });
    await expect(client.settleSession(new Address(0, Buffer.alloc(32, 3)))).rejects.toThrow("is not this wallet's session");
});
