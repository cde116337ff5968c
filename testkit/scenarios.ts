// The two scenarios of `npm run demo`, also run by tests/e2e/flows.spec.ts: a session served, paid and
// settled; and a provider that stops answering, slashed, its client refunded.
import { fromNano, toNano } from '@ton/core';
import { Provider, formatPrices, sessionFor } from '../wrappers';
import { CocoonClient, CocoonError, ClientSession, registeredProviders } from '../sdk';
import { DEMO_MODEL, LOCAL_CLIENT_POLICY, LocalNetwork } from './local-network';

export interface Reporter {
    step(text: string): void;
    detail(text: string): void;
}

const PROMPTS = [
    'Summarize the Cocoon protocol in one sentence.',
    'Which TEEs does a Cocoon worker run in?',
    'How is a provider paid?',
    'What happens when a provider stops answering?',
];

const ton = (n: bigint) => `${fromNano(n)} TON`;

async function attestAndOpen(net: LocalNetwork, r: Reporter, durationSeconds: number) {
    r.step('The worker gets its enclave keys attested: verifier nonce, simulated evidence, 2-of-2 signatures, proof submitted on-chain');
    const attested = await net.worker.attest();
    r.detail(
        `enclave signing key ${net.worker.keys.signing.publicKey.toString('hex').slice(0, 16)}…, attested until ${new Date(attested.validUntil * 1000).toISOString()}`,
    );

    r.step(`The client finds providers of ${DEMO_MODEL} on-chain (registrations announced by Root)`);
    const client = new CocoonClient({
        ...LOCAL_CLIENT_POLICY,
        chain: net.chain,
        wallet: net.ledger.sender(net.client),
        root: net.root.address,
        confirmTimeoutMs: 1000,
    });
    const budget = toNano('5');
    const offers = await client.findProviders(registeredProviders(net.ledger.transactions, net.root.address), {
        model: DEMO_MODEL,
        budget,
    });
    if (offers.length === 0) throw new Error('no provider found');
    const offer = offers[0];
    r.detail(
        `${offers.length} offer: ${offer.gpuCount}x ${offer.gpuModel} at ${offer.endpoint}, model hash ${offer.modelHash.toString('hex').slice(0, 16)}… (listed and attested), ${formatPrices(offer.prices)}`,
    );

    const nonce = 1n;
    await net.ledger.track('Session', (await sessionFor(net.root.address, net.gpuOwner.address, net.client.address, nonce)).address);
    r.step(`The client opens a session with a ${ton(budget)} budget for ${durationSeconds / 3600} h`);
    const session = await client.openSession(offer.provider, { model: DEMO_MODEL, budget, durationSeconds, nonce });
    const provider = net.blockchain.openContract(Provider.fromAddress(offer.provider));
    r.detail(
        `session ${session.address.toString()}: escrowed ${ton(session.budget)} (the opening allowance's unspent part joins the budget), provider collateral locked ${ton(await provider.getLocked())}`,
    );
    return { client, session, provider };
}

async function chat(session: ClientSession, r: Reporter, prompt: string) {
    const { completion, receipt } = await session.chat({ messages: [{ role: 'user', content: prompt }], max_tokens: 64 });
    const text = completion.choices[0].message.content ?? '';
    r.detail(
        `receipt #${receipt.seqno}: ${receipt.promptTokens} prompt + ${receipt.completionTokens} completion tokens so far, ${ton(receipt.amountDue)} due; "${text.length > 70 ? text.slice(0, 67) + '...' : text}"`,
    );
    return receipt;
}

export async function servedScenario(net: LocalNetwork, r: Reporter) {
    const { session, provider } = await attestAndOpen(net, r, 3600);
    const treasuryBefore = await net.root.getTreasury();

    r.step('The client sends encrypted chat requests; the SDK checks every signed receipt');
    for (const p of PROMPTS.slice(0, 2)) await chat(session, r, p);

    r.step('The worker claims the latest receipt; the payment goes to the GPU owner');
    const firstClaims = await net.worker.claimDue(true);
    r.detail(
        `claimed receipt #${firstClaims[0]?.seqno}: the Session has paid ${ton((await session.refresh()).claimed)} (protocol fee included)`,
    );

    r.step('Two more requests, then the client closes the session');
    for (const p of PROMPTS.slice(2)) await chat(session, r, p);
    await session.close();
    r.detail(`closed; the provider has ${Number(session.finalizableAt().at - net.chain.now())} s for its final claim`);

    r.step('The worker sees the close and makes its final claim');
    const finalClaims = await net.worker.claimDue();
    r.detail(`claimed receipt #${finalClaims[0]?.seqno}: ${ton((await session.refresh()).claimed)} in total`);

    r.step('After the grace period the client finalizes: refund, protocol fee to the treasury, collateral released');
    net.blockchain.now = session.finalizableAt().at;
    const settled = await session.finalize();
    const fee = (await net.root.getTreasury()) - treasuryBefore;
    r.detail(
        `refund ${ton(settled.refund)} to the client, ${ton(settled.claimed - fee)} paid to the GPU owner, fee ${ton(fee)} to the treasury; locked collateral now ${ton(await provider.getLocked())}`,
    );
    return { session, settled, fee, latest: session.latest, claims: [...firstClaims, ...finalClaims] };
}

export async function timeoutScenario(net: LocalNetwork, r: Reporter) {
    const { session, provider } = await attestAndOpen(net, r, 3600);
    const stakeBefore = await provider.getStake();
    const treasuryBefore = await net.root.getTreasury();

    r.step('The worker stops answering');
    await net.stopWorker();
    let refusal: CocoonError | undefined;
    try {
        await session.chat({ messages: [{ role: 'user', content: PROMPTS[0] }] });
    } catch (e) {
        if (!(e instanceof CocoonError)) throw e;
        refusal = e;
    }
    if (refusal?.code !== 'worker-unreachable') throw new Error('the request should have failed: the worker is down');
    r.detail(`the SDK reports ${refusal.code}: ${refusal.message}`);

    r.step('The claim window passes with no receipt claimed (not even an acknowledgement); the client finalizes: a timeout');
    net.blockchain.now = session.finalizableAt().at;
    const settled = await session.finalize();
    const stakeAfter = await provider.getStake();
    const stats = await provider.getStats();
    r.detail(
        `refund ${ton(settled.refund)}; the provider's stake ${ton(stakeBefore)} -> ${ton(stakeAfter)} (slashed ${stats.slashCount} time)`,
    );
    r.detail(
        `the ${ton(stakeBefore - stakeAfter)} slashed went to the treasury (${ton((await net.root.getTreasury()) - treasuryBefore)}): nobody gains from a timeout`,
    );
    return { session, settled, slashed: stakeBefore - stakeAfter, refusal, treasuryGain: (await net.root.getTreasury()) - treasuryBefore };
}

export type Scenario = 'served' | 'timeout';
export const SCENARIOS: Record<Scenario, (net: LocalNetwork, r: Reporter) => Promise<unknown>> = {
    served: servedScenario,
    timeout: timeoutScenario,
};
