import { SandboxContract, TreasuryContract } from '@ton/sandbox';
import { beginCell, toNano } from '@ton/core';
import '@ton/test-utils';
import {
    providerEntryFor,
    PROVIDER_ENTRY_RESERVE,
    ERR_BELOW_MIN_STAKE,
    ERR_INSUFFICIENT_FREE_STAKE,
    ERR_INVALID_AMOUNT,
    ERR_INVALID_LISTING,
    ERR_LISTING_TEXT_TOO_LONG,
    ERR_INVALID_STATUS,
    ERR_NOT_OWNER,
    ERR_NOT_REGISTERED,
    ERR_NOT_ROOT,
    ERR_NOTHING_TO_WITHDRAW,
    ERR_TOO_MANY_MODELS,
    ERR_TOO_MANY_UNBONDING,
    ERR_VALUE_TOO_SMALL,
    GAS_PROVIDER_STAKE,
    MAX_UNBONDING_REQUESTS,
    PROVIDER_STORAGE_RESERVE,
    STATUS_ACTIVE,
    STATUS_EXITING,
    STATUS_NEW,
    STATUS_PAUSED,
    Provider,
    buildListing,
    modelKey,
    paramsCell,
    providerForOwner,
    SMALL_MESSAGE_FEE,
    gasFee,
} from '../wrappers';
import {
    DAY,
    Ledger,
    Protocol,
    RegisteredProvider,
    TEST_LISTING,
    TEST_PARAMS,
    deployProtocol,
    eventOpcodes,
    registerProvider,
    sendRegister,
    MODEL_HASH,
    key256,
} from '../testkit';

const PROVIDER_STATE_EVENT = 0xc0c09101;
const LISTING_EVENT = 0xc0c09103;

describe('Provider registration', () => {
    let p: Protocol;
    let owner: SandboxContract<TreasuryContract>;

    beforeEach(async () => {
        p = await deployProtocol();
        owner = await p.blockchain.treasury('gpu-owner');
    });

    it('has the address Root computes', async () => {
        const provider = await providerForOwner(p.root.address, owner.address);
        expect((await p.root.getProviderAddress(owner.address)).equals(provider.address)).toBe(true);
    });

    it('registers: stake bonded, status active, Root counts it, TON conserved', async () => {
        const provider = await providerForOwner(p.root.address, owner.address);
        const ledger = new Ledger(p.blockchain);
        const entry = await providerEntryFor(p.root.address, 1);
        await ledger.snapshot([owner.address, p.root.address, provider.address, entry.address]);
        const value = toNano('150');
        const { result } = await sendRegister(p, owner, value);
        expect(result.transactions).toHaveTransaction({ from: owner.address, to: provider.address, deploy: true, success: true });
        expect(result.transactions).toHaveTransaction({ from: provider.address, to: p.root.address, success: true });
        expect(result.transactions).toHaveTransaction({ from: p.root.address, to: provider.address, success: true });
        expect(result.transactions).toHaveTransaction({ from: provider.address, to: owner.address, success: true });
        const opened = p.blockchain.openContract(provider);
        expect(await opened.getStatus()).toBe(STATUS_ACTIVE);
        const stake = await opened.getStake();
        // the stake is the value minus a gas budget of well under 0.05 TON
        expect(stake).toBeLessThan(value - PROVIDER_STORAGE_RESERVE);
        expect(stake).toBeGreaterThan(value - PROVIDER_STORAGE_RESERVE - toNano('0.05'));
        // the contract holds the stake and its storage reserve, never less
        expect((await p.blockchain.getContract(provider.address)).balance).toBeGreaterThanOrEqual(stake + PROVIDER_STORAGE_RESERVE);
        expect(await opened.getParams()).toEqual(TEST_PARAMS);
        const listing = await opened.getListing();
        expect(listing?.gpuModel).toBe(TEST_LISTING.gpuModel);
        expect(listing?.models.get(modelKey('Qwen/Qwen3-8B'))?.prices.completion).toBe(toNano('0.2'));
        expect(await p.root.getProviderCount()).toBe(1n);
        // Root's index: entry 1 names this provider, and keeps its storage reserve
        expect(result.transactions).toHaveTransaction({ from: p.root.address, to: entry.address, deploy: true, success: true });
        expect((await p.blockchain.openContract(entry).getProvider())!.equals(provider.address)).toBe(true);
        expect((await p.blockchain.getContract(entry.address)).balance).toBeGreaterThanOrEqual(PROVIDER_ENTRY_RESERVE);
        expect(eventOpcodes(result.transactions)).toEqual([LISTING_EVENT, 0xc0c09007, PROVIDER_STATE_EVENT]);
        await ledger.expectConserved(result.transactions);
    });

    it('a second registration adds stake and updates the listing without resetting anything', async () => {
        const reg = await registerProvider(p, 'gpu-owner');
        const stakeBefore = await reg.provider.getStake();
        const listing = { ...TEST_LISTING, endpoint: 'https://new.example' };
        const { result } = await sendRegister(p, owner, toNano('10'), listing);
        expect(result.transactions).toHaveTransaction({ from: p.root.address, to: reg.provider.address, success: true });
        expect(await reg.provider.getStake()).toBeGreaterThan(stakeBefore + toNano('9.9'));
        expect(await reg.provider.getStatus()).toBe(STATUS_ACTIVE);
        expect((await reg.provider.getListing())?.endpoint).toBe('https://new.example');
        expect(await p.root.getProviderCount()).toBe(1n);
    });

    it('below the minimum stake: Root refuses, the owner gets everything back', async () => {
        const provider = await providerForOwner(p.root.address, owner.address);
        const ledger = new Ledger(p.blockchain);
        await ledger.snapshot([owner.address, p.root.address, provider.address]);
        const { result } = await sendRegister(p, owner, toNano('50'));
        expect(result.transactions).toHaveTransaction({
            from: provider.address,
            to: p.root.address,
            success: false,
            exitCode: Number(ERR_BELOW_MIN_STAKE),
        });
        expect(result.transactions).toHaveTransaction({
            from: p.root.address,
            to: provider.address,
            inMessageBounced: true,
            success: true,
        });
        expect(result.transactions).toHaveTransaction({ from: provider.address, to: owner.address, value: (v) => v! > toNano('49.9') });
        const opened = p.blockchain.openContract(provider);
        expect(await opened.getStatus()).toBe(STATUS_NEW);
        expect(await opened.getStake()).toBe(0n);
        expect((await p.blockchain.getContract(provider.address)).balance).toBe(0n);
        expect(await p.root.getProviderCount()).toBe(0n);
        await ledger.expectConserved(result.transactions);
        // and the owner can register properly afterwards
        const retry = await sendRegister(p, owner, toNano('150'));
        expect(retry.result.transactions).toHaveTransaction({ from: p.root.address, to: provider.address, success: true });
        expect(await opened.getStatus()).toBe(STATUS_ACTIVE);
    });

    it('a Root that does not exist bounces the registration and the owner is refunded', async () => {
        const ghostRoot = await p.blockchain.treasury('not-a-root');
        const provider = p.blockchain.openContract(await providerForOwner(ghostRoot.address, owner.address));
        // a treasury wallet accepts the message, so use an address with no contract at all
        const nowhere = p.blockchain.openContract(await providerForOwner(provider.address, owner.address));
        const ledger = new Ledger(p.blockchain);
        await ledger.snapshot([owner.address, nowhere.address, provider.address]);
        const result = await nowhere.send(
            owner.getSender(),
            { value: toNano('150') },
            { $$type: 'Register', queryId: 1n, listing: buildListing(TEST_LISTING) },
        );
        expect(result.transactions).toHaveTransaction({ from: nowhere.address, to: provider.address, success: false });
        expect(result.transactions).toHaveTransaction({ from: nowhere.address, to: owner.address, value: (v) => v! > toNano('149.9') });
        expect(await nowhere.getStatus()).toBe(STATUS_NEW);
        await ledger.expectConserved(result.transactions);
    });

    it('too little value for the chain is refused before anything is sent', async () => {
        const { provider, result } = await sendRegister(p, owner, toNano('0.03'));
        expect(result.transactions).toHaveTransaction({
            from: owner.address,
            to: provider.address,
            success: false,
            exitCode: Number(ERR_VALUE_TOO_SMALL),
        });
        expect(result.transactions).not.toHaveTransaction({ from: provider.address, to: p.root.address });
    });

    it('only the owner registers its Provider', async () => {
        const attacker = await p.blockchain.treasury('attacker');
        const provider = p.blockchain.openContract(await providerForOwner(p.root.address, owner.address));
        const result = await provider.send(
            attacker.getSender(),
            { value: toNano('150') },
            { $$type: 'Register', queryId: 1n, listing: buildListing(TEST_LISTING) },
        );
        expect(result.transactions).toHaveTransaction({ to: provider.address, success: false, exitCode: Number(ERR_NOT_OWNER) });
    });

    describe('listing validation', () => {
        const cases: [string, () => ReturnType<typeof buildListing>, bigint][] = [
            ['no GPU', () => buildListing({ ...TEST_LISTING, gpuCount: 0 }), ERR_INVALID_LISTING],
            ['no VRAM', () => buildListing({ ...TEST_LISTING, vramGb: 0 }), ERR_INVALID_LISTING],
            [
                'a model name over MAX_TEXT_BYTES',
                () =>
                    buildListing({
                        ...TEST_LISTING,
                        models: [
                            {
                                name: 'm'.repeat(128),
                                prices: { prompt: 1n, cachedPrompt: 1n, completion: 1n, reasoning: 1n },
                                modelHash: MODEL_HASH,
                            },
                        ],
                    }),
                ERR_LISTING_TEXT_TOO_LONG,
            ],
            [
                'an endpoint over MAX_TEXT_BYTES',
                () => buildListing({ ...TEST_LISTING, endpoint: 'https://' + 'e'.repeat(120) }),
                ERR_LISTING_TEXT_TOO_LONG,
            ],
            [
                'a GPU model over MAX_TEXT_BYTES',
                () => buildListing({ ...TEST_LISTING, gpuModel: 'G'.repeat(128) }),
                ERR_LISTING_TEXT_TOO_LONG,
            ],
            [
                'a model with no price',
                () =>
                    buildListing({
                        ...TEST_LISTING,
                        models: [
                            {
                                name: 'free',
                                prices: { prompt: 0n, cachedPrompt: 0n, completion: 0n, reasoning: 0n },
                                modelHash: MODEL_HASH,
                            },
                        ],
                    }),
                ERR_INVALID_LISTING,
            ],
            [
                'a model with no hash (zero)',
                () => {
                    const l = buildListing(TEST_LISTING);
                    const offer = l.models.get(modelKey('Qwen/Qwen3-8B'))!;
                    l.models.set(modelKey('Qwen/Qwen3-8B'), { ...offer, modelHash: 0n });
                    return l;
                },
                ERR_INVALID_LISTING,
            ],
            [
                'no model',
                () => {
                    const l = buildListing(TEST_LISTING);
                    l.models.delete(modelKey('Qwen/Qwen3-8B'));
                    l.models.delete(modelKey('meta-llama/Llama-3.1-70B-Instruct'));
                    return l;
                },
                ERR_INVALID_LISTING,
            ],
            [
                'a model under a key that is not sha256 of its name',
                () => {
                    const l = buildListing(TEST_LISTING);
                    l.models.set(123n, {
                        $$type: 'ModelOffer',
                        name: 'x',
                        prices: { $$type: 'Prices', prompt: 1n, cachedPrompt: 1n, completion: 1n, reasoning: 1n },
                        modelHash: key256(MODEL_HASH),
                    });
                    return l;
                },
                ERR_INVALID_LISTING,
            ],
            [
                'more than MAX_MODELS models',
                () => {
                    const l = buildListing(TEST_LISTING);
                    for (let i = 0; i < 15; i++) {
                        const name = `model-${i}`;
                        l.models.set(modelKey(name), {
                            $$type: 'ModelOffer',
                            name,
                            prices: { $$type: 'Prices', prompt: 1n, cachedPrompt: 1n, completion: 1n, reasoning: 1n },
                            modelHash: key256(MODEL_HASH),
                        });
                    }
                    return l;
                },
                ERR_TOO_MANY_MODELS,
            ],
        ];

        it.each(cases)('refuses %s', async (_name, listing, exitCode) => {
            const provider = p.blockchain.openContract(await providerForOwner(p.root.address, owner.address));
            const result = await provider.send(
                owner.getSender(),
                { value: toNano('150') },
                { $$type: 'Register', queryId: 1n, listing: listing() },
            );
            expect(result.transactions).toHaveTransaction({ to: provider.address, success: false, exitCode: Number(exitCode) });
        });
    });

    it('messages only Root may send are refused from anyone else', async () => {
        const reg = await registerProvider(p);
        const attacker = await p.blockchain.treasury('attacker');
        const forged = await reg.provider.send(
            attacker.getSender(),
            { value: toNano('1') },
            {
                $$type: 'RegistrationConfirmed',
                queryId: 0n,
                stake: toNano('1000000'),
                params: paramsCell(TEST_PARAMS),
            },
        );
        expect(forged.transactions).toHaveTransaction({ to: reg.provider.address, success: false, exitCode: Number(ERR_NOT_ROOT) });
        const forgedAttestation = await reg.provider.send(
            attacker.getSender(),
            { value: toNano('1') },
            {
                $$type: 'AttestationVerified',
                queryId: 0n,
                excessTo: attacker.address,
                verifierEpoch: 0n,
                validUntil: 0n,
                params: paramsCell(TEST_PARAMS),
                proof: beginCell().endCell(),
            },
        );
        expect(forgedAttestation.transactions).toHaveTransaction({
            to: reg.provider.address,
            success: false,
            exitCode: Number(ERR_NOT_ROOT),
        });
        expect(await reg.provider.getStake()).toBeLessThan(toNano('150'));
        expect(await reg.provider.getAttestation()).toBeNull();
    });
});

describe('Provider staking', () => {
    let p: Protocol;
    let reg: RegisteredProvider;
    let ledger: Ledger;
    let stranger: SandboxContract<TreasuryContract>;

    beforeEach(async () => {
        p = await deployProtocol();
        reg = await registerProvider(p, 'gpu-owner', toNano('300'));
        stranger = await p.blockchain.treasury('stranger');
        ledger = new Ledger(p.blockchain);
        await ledger.snapshot([reg.owner.address, reg.provider.address, stranger.address, p.root.address]);
    });

    const send = (from: SandboxContract<TreasuryContract>, msg: Parameters<Provider['send']>[3], value = toNano('0.05')) =>
        reg.provider.send(from.getSender(), { value }, msg);

    it('anyone tops up the stake: the value minus the gas budget, nothing sent back', async () => {
        const before = await reg.provider.getStake();
        const r = await send(stranger, { $$type: 'Stake', queryId: 1n }, toNano('25'));
        expect(r.transactions).toHaveTransaction({ from: stranger.address, to: reg.provider.address, success: true, outMessagesCount: 1 });
        expect(await reg.provider.getStake()).toBe(before + toNano('25') - gasFee(GAS_PROVIDER_STAKE) - SMALL_MESSAGE_FEE);
        expect(eventOpcodes(r.transactions)).toEqual([PROVIDER_STATE_EVENT]);
        await ledger.expectConserved(r.transactions);
    });

    it('a top-up smaller than its own gas is refused', async () => {
        const r = await send(stranger, { $$type: 'Stake', queryId: 1n }, gasFee(GAS_PROVIDER_STAKE));
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, success: false, exitCode: Number(ERR_VALUE_TOO_SMALL) });
    });

    it('a top-up before registration is refused', async () => {
        const newcomer = await p.blockchain.treasury('newcomer');
        const provider = p.blockchain.openContract(await providerForOwner(p.root.address, newcomer.address));
        const r = await provider.send(stranger.getSender(), { value: toNano('5'), bounce: true }, { $$type: 'Stake', queryId: 1n });
        expect(r.transactions).toHaveTransaction({ to: provider.address, success: false, exitCode: Number(ERR_NOT_REGISTERED) });
        expect(r.transactions).toHaveTransaction({ from: provider.address, to: stranger.address, inMessageBounced: true });
    });

    it('unstake waits for the unbonding period, then pays out exactly', async () => {
        const stake = await reg.provider.getStake();
        const requested = await send(reg.owner, { $$type: 'RequestUnstake', queryId: 1n, amount: toNano('50') });
        expect(requested.transactions).toHaveTransaction({ to: reg.provider.address, success: true });
        expect(await reg.provider.getStake()).toBe(stake - toNano('50'));
        const queue = await reg.provider.getUnbonding();
        expect([queue.total, queue.count]).toEqual([toNano('50'), 1n]);
        expect(queue.requests.get(0)?.releaseAt).toBe(BigInt(p.blockchain.now! + 7 * DAY));

        const early = await send(reg.owner, { $$type: 'WithdrawStake', queryId: 2n });
        expect(early.transactions).toHaveTransaction({
            to: reg.provider.address,
            success: false,
            exitCode: Number(ERR_NOTHING_TO_WITHDRAW),
        });

        p.blockchain.now! += 7 * DAY - 1;
        const stillEarly = await send(reg.owner, { $$type: 'WithdrawStake', queryId: 3n });
        expect(stillEarly.transactions).toHaveTransaction({ to: reg.provider.address, exitCode: Number(ERR_NOTHING_TO_WITHDRAW) });

        p.blockchain.now! += 1;
        const ownerBefore = (await p.blockchain.getContract(reg.owner.address)).balance;
        const paid = await send(reg.owner, { $$type: 'WithdrawStake', queryId: 4n });
        expect(paid.transactions).toHaveTransaction({
            from: reg.provider.address,
            to: reg.owner.address,
            value: (v) => v! >= toNano('50'),
        });
        expect((await p.blockchain.getContract(reg.owner.address)).balance).toBeGreaterThan(ownerBefore + toNano('49.99'));
        expect((await reg.provider.getUnbonding()).total).toBe(0n);
        expect((await reg.provider.getUnbonding()).count).toBe(0n);
        // the contract still holds all remaining stake
        expect((await p.blockchain.getContract(reg.provider.address)).balance).toBeGreaterThanOrEqual(await reg.provider.getStake());
        await ledger.expectConserved([...requested.transactions, ...early.transactions, ...stillEarly.transactions, ...paid.transactions]);
    });

    it('withdraws only the requests that matured', async () => {
        await send(reg.owner, { $$type: 'RequestUnstake', queryId: 1n, amount: toNano('10') });
        p.blockchain.now! += DAY;
        await send(reg.owner, { $$type: 'RequestUnstake', queryId: 2n, amount: toNano('20') });
        p.blockchain.now! += 6 * DAY;
        const r = await send(reg.owner, { $$type: 'WithdrawStake', queryId: 3n });
        expect(r.transactions).toHaveTransaction({
            from: reg.provider.address,
            to: reg.owner.address,
            value: (v) => v! >= toNano('10') && v! < toNano('10.05'),
        });
        const queue = await reg.provider.getUnbonding();
        expect([queue.total, queue.count]).toEqual([toNano('20'), 1n]);
    });

    it('the minimum stake of an active provider cannot leave', async () => {
        const free = await reg.provider.getFreeStake();
        expect(free).toBe((await reg.provider.getStake()) - TEST_PARAMS.minProviderStake);
        const r = await send(reg.owner, { $$type: 'RequestUnstake', queryId: 1n, amount: free + 1n });
        expect(r.transactions).toHaveTransaction({
            to: reg.provider.address,
            success: false,
            exitCode: Number(ERR_INSUFFICIENT_FREE_STAKE),
        });
        const ok = await send(reg.owner, { $$type: 'RequestUnstake', queryId: 1n, amount: free });
        expect(ok.transactions).toHaveTransaction({ to: reg.provider.address, success: true });
        expect(await reg.provider.getFreeStake()).toBe(0n);
    });

    it('an exiting provider may unstake everything; resuming needs the minimum again', async () => {
        const exit = await send(reg.owner, { $$type: 'ExitProvider', queryId: 1n });
        expect(exit.transactions).toHaveTransaction({ to: reg.provider.address, success: true });
        expect(await reg.provider.getStatus()).toBe(STATUS_EXITING);
        const all = await reg.provider.getStake();
        const r = await send(reg.owner, { $$type: 'RequestUnstake', queryId: 2n, amount: all });
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, success: true });
        expect(await reg.provider.getStake()).toBe(0n);
        const resume = await send(reg.owner, { $$type: 'ResumeProvider', queryId: 3n });
        expect(resume.transactions).toHaveTransaction({ to: reg.provider.address, success: false, exitCode: Number(ERR_BELOW_MIN_STAKE) });
        p.blockchain.now! += 7 * DAY;
        const out = await send(reg.owner, { $$type: 'WithdrawStake', queryId: 4n });
        expect(out.transactions).toHaveTransaction({ from: reg.provider.address, to: reg.owner.address, value: (v) => v! >= all });
        // what stays is the storage reserve (less 7 days of storage fees) and unspent gas budgets
        const left = (await p.blockchain.getContract(reg.provider.address)).balance;
        expect(left).toBeGreaterThan(PROVIDER_STORAGE_RESERVE - toNano('0.001'));
        expect(left).toBeLessThan(PROVIDER_STORAGE_RESERVE + toNano('0.05'));
    });

    it('refuses a zero amount, a full queue, and requests by others', async () => {
        let r = await send(reg.owner, { $$type: 'RequestUnstake', queryId: 1n, amount: 0n });
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, exitCode: Number(ERR_INVALID_AMOUNT) });
        r = await send(stranger, { $$type: 'RequestUnstake', queryId: 1n, amount: 1n });
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, exitCode: Number(ERR_NOT_OWNER) });
        r = await send(stranger, { $$type: 'WithdrawStake', queryId: 1n });
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, exitCode: Number(ERR_NOT_OWNER) });
        for (let i = 0; i < Number(MAX_UNBONDING_REQUESTS); i++) {
            r = await send(reg.owner, { $$type: 'RequestUnstake', queryId: 1n, amount: toNano('1') });
            expect(r.transactions).toHaveTransaction({ to: reg.provider.address, success: true });
        }
        r = await send(reg.owner, { $$type: 'RequestUnstake', queryId: 1n, amount: toNano('1') });
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, exitCode: Number(ERR_TOO_MANY_UNBONDING) });
        // after withdrawing, the queue has room again
        p.blockchain.now! += 7 * DAY;
        await send(reg.owner, { $$type: 'WithdrawStake', queryId: 1n });
        r = await send(reg.owner, { $$type: 'RequestUnstake', queryId: 1n, amount: toNano('1') });
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, success: true });
    });
});

describe('Provider status and listing', () => {
    let p: Protocol;
    let reg: RegisteredProvider;
    let stranger: SandboxContract<TreasuryContract>;

    beforeEach(async () => {
        p = await deployProtocol();
        reg = await registerProvider(p);
        stranger = await p.blockchain.treasury('stranger');
    });

    const send = (from: SandboxContract<TreasuryContract>, msg: Parameters<Provider['send']>[3], value = toNano('0.05')) =>
        reg.provider.send(from.getSender(), { value }, msg);

    it('pause and resume, owner only, from the right status', async () => {
        let r = await send(stranger, { $$type: 'PauseProvider', queryId: 1n });
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, exitCode: Number(ERR_NOT_OWNER) });
        r = await send(reg.owner, { $$type: 'ResumeProvider', queryId: 1n });
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, exitCode: Number(ERR_INVALID_STATUS) });
        r = await send(reg.owner, { $$type: 'PauseProvider', queryId: 1n });
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, success: true });
        expect(eventOpcodes(r.transactions)).toEqual([PROVIDER_STATE_EVENT]);
        expect(await reg.provider.getStatus()).toBe(STATUS_PAUSED);
        r = await send(reg.owner, { $$type: 'PauseProvider', queryId: 1n });
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, exitCode: Number(ERR_INVALID_STATUS) });
        r = await send(stranger, { $$type: 'ResumeProvider', queryId: 1n });
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, exitCode: Number(ERR_NOT_OWNER) });
        r = await send(reg.owner, { $$type: 'ResumeProvider', queryId: 1n });
        expect(await reg.provider.getStatus()).toBe(STATUS_ACTIVE);
    });

    it('exit: owner only, not twice', async () => {
        let r = await send(stranger, { $$type: 'ExitProvider', queryId: 1n });
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, exitCode: Number(ERR_NOT_OWNER) });
        await send(reg.owner, { $$type: 'ExitProvider', queryId: 1n });
        r = await send(reg.owner, { $$type: 'ExitProvider', queryId: 1n });
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, exitCode: Number(ERR_INVALID_STATUS) });
    });

    it('the owner updates the listing; it is validated; nobody else can', async () => {
        const listing = buildListing({ ...TEST_LISTING, gpuModel: 'NVIDIA B200', gpuCount: 4 });
        let r = await send(stranger, { $$type: 'UpdateListing', queryId: 1n, listing });
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, exitCode: Number(ERR_NOT_OWNER) });
        r = await send(reg.owner, { $$type: 'UpdateListing', queryId: 1n, listing: buildListing({ ...TEST_LISTING, gpuCount: 0 }) });
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, exitCode: Number(ERR_INVALID_LISTING) });
        r = await send(reg.owner, { $$type: 'UpdateListing', queryId: 1n, listing });
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, success: true });
        expect(eventOpcodes(r.transactions)).toEqual([LISTING_EVENT]);
        const stored = await reg.provider.getListing();
        expect([stored?.gpuModel, stored?.gpuCount]).toEqual(['NVIDIA B200', 4n]);
    });

    it('a Provider whose registration never completed accepts no owner operations', async () => {
        const newcomer = await p.blockchain.treasury('newcomer');
        const { provider } = await sendRegister(p, newcomer, toNano('50')); // refused by Root: below minimum
        for (const msg of [
            { $$type: 'RequestUnstake' as const, queryId: 1n, amount: 1n },
            { $$type: 'UpdateListing' as const, queryId: 1n, listing: buildListing(TEST_LISTING) },
        ]) {
            const r = await provider.send(newcomer.getSender(), { value: toNano('0.05') }, msg);
            expect(r.transactions).toHaveTransaction({ to: provider.address, exitCode: Number(ERR_NOT_REGISTERED) });
        }
    });
});
