import { Blockchain, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { toNano } from '@ton/core';
import '@ton/test-utils';
import {
    ERR_INVALID_PARAMS,
    ERR_INVALID_THRESHOLD,
    ERR_MEASUREMENT_EXISTS,
    ERR_MEASUREMENT_UNKNOWN,
    ERR_NO_PENDING_OWNER,
    ERR_NOT_OWNER,
    ERR_NOT_PENDING_OWNER,
    ERR_NOT_PROVIDER,
    ERR_TOO_MANY_MEASUREMENTS,
    ERR_TOO_MANY_VERIFIERS,
    ERR_TREASURY_INSUFFICIENT,
    ERR_INVALID_AMOUNT,
    ERR_VERIFIER_EXISTS,
    ERR_VERIFIER_UNKNOWN,
    ERR_WRONG_NETWORK,
    ERR_VALUE_TOO_SMALL,
    ROOT_STORAGE_RESERVE,
    GLOBAL_ID_MAINNET,
    GLOBAL_ID_TESTNET,
    MAX_MEASUREMENTS,
    MAX_VERIFIERS,
    ProtocolParams,
    Root,
    rootForDeployment,
    paramsProblems,
} from '../wrappers';
import { Ledger, Protocol, START_TIME, TEST_PARAMS, deployProtocol, eventOpcodes, key256, seededKey } from '../testkit';

const OP = {
    ownershipProposed: 0xc0c09001,
    ownershipTransferred: 0xc0c09002,
    paramsUpdated: 0xc0c09003,
    verifierSetChanged: 0xc0c09004,
    measurementChanged: 0xc0c09005,
};

describe('Root deployment', () => {
    let blockchain: Blockchain;
    let governance: SandboxContract<TreasuryContract>;

    beforeEach(async () => {
        blockchain = await Blockchain.create();
        blockchain.now = START_TIME;
        governance = await blockchain.treasury('governance');
    });

    async function deploy(params: ProtocolParams, globalId = GLOBAL_ID_MAINNET, body: 'deploy' | 'plain' = 'deploy') {
        const root = blockchain.openContract(await rootForDeployment({ owner: governance.address, globalId, params }));
        const result = await root.send(
            governance.getSender(),
            { value: toNano('1') },
            body === 'deploy' ? { $$type: 'DeployRoot', queryId: 0n } : null,
        );
        return { root, result };
    }

    it('deploys with valid parameters and exposes them', async () => {
        const ledger = new Ledger(blockchain);
        const root = await rootForDeployment({ owner: governance.address, globalId: GLOBAL_ID_MAINNET, params: TEST_PARAMS });
        await ledger.snapshot([governance.address, root.address]);
        const { root: opened, result } = await deploy(TEST_PARAMS);
        expect(result.transactions).toHaveTransaction({ to: opened.address, deploy: true, success: true });
        expect((await opened.getOwner()).equals(governance.address)).toBe(true);
        expect(await opened.getParams()).toEqual(TEST_PARAMS);
        expect(await opened.getGlobalId()).toBe(BigInt(GLOBAL_ID_MAINNET));
        expect(await opened.getTreasury()).toBe(0n);
        expect(await opened.getProviderCount()).toBe(0n);
        expect(await opened.getPendingOwner()).toBeNull();
        // the deploy value stays as Root's operating balance (storage and gas), none of it treasury
        expect((await blockchain.getContract(opened.address)).balance).toBeGreaterThan(toNano('0.99'));
        expect(result.transactions).not.toHaveTransaction({ from: opened.address, to: governance.address });
        await ledger.expectConserved(result.transactions);
    });

    it('refuses a deployment that does not fund the storage reserve', async () => {
        const root = blockchain.openContract(
            await rootForDeployment({ owner: governance.address, globalId: GLOBAL_ID_MAINNET, params: TEST_PARAMS }),
        );
        const result = await root.send(governance.getSender(), { value: ROOT_STORAGE_RESERVE / 2n }, { $$type: 'DeployRoot', queryId: 0n });
        await expectRefused(root, result, ERR_VALUE_TOO_SMALL);
    });

    const invalid: [string, Partial<ProtocolParams>][] = [
        ['protocol fee above 100%', { protocolFeeBps: 10001n }],
        ['collateral above 100%', { collateralBps: 10001n }],
        ['timeout slash above 100%', { timeoutSlashBps: 10001n }],
        ['revocation slash above 100%', { revocationSlashBps: 10001n }],
        ['equivocation slash above 100%', { equivocationSlashBps: 10001n }],
        ['reporter reward above 100%', { reporterRewardBps: 10001n }],
        ['zero minimum stake', { minProviderStake: 0n }],
        ['zero unbonding period', { unbondingPeriod: 0n }],
        ['zero attestation max age', { attestationMaxAge: 0n }],
        ['zero minimum session budget', { minSessionBudget: 0n }],
        ['zero session duration', { maxSessionDuration: 0n }],
        ['zero close grace period', { closeGracePeriod: 0n }],
    ];

    // A refused deployment bounces: the deployer gets the value back and Root holds nothing.
    async function expectRefused(root: SandboxContract<Root>, result: Awaited<ReturnType<typeof deploy>>['result'], exitCode: bigint) {
        expect(result.transactions).toHaveTransaction({ to: root.address, success: false, exitCode: Number(exitCode) });
        expect(result.transactions).toHaveTransaction({ from: root.address, to: governance.address, inMessageBounced: true });
        expect((await blockchain.getContract(root.address)).balance).toBe(0n);
    }

    it.each(invalid)('the off-chain check names the problem: %s', (_name, change) => {
        expect(paramsProblems({ ...TEST_PARAMS, ...change })).toHaveLength(1);
        expect(paramsProblems(TEST_PARAMS)).toEqual([]);
    });

    it.each(invalid)('refuses to deploy with %s', async (_name, change) => {
        const { root, result } = await deploy({ ...TEST_PARAMS, ...change });
        await expectRefused(root, result, ERR_INVALID_PARAMS);
    });

    it('refuses to deploy for another network, whatever message deploys it', async () => {
        for (const body of ['deploy', 'plain'] as const) {
            const { root, result } = await deploy(TEST_PARAMS, GLOBAL_ID_TESTNET, body);
            await expectRefused(root, result, ERR_WRONG_NETWORK);
        }
    });

    it('a plain transfer checks the parameters too', async () => {
        const { root, result } = await deploy({ ...TEST_PARAMS, protocolFeeBps: 20000n }, GLOBAL_ID_MAINNET, 'plain');
        await expectRefused(root, result, ERR_INVALID_PARAMS);
    });
});

describe('Root governance', () => {
    let p: Protocol;
    let stranger: SandboxContract<TreasuryContract>;

    beforeEach(async () => {
        p = await deployProtocol();
        stranger = await p.blockchain.treasury('stranger');
    });

    const send = (from: SandboxContract<TreasuryContract>, msg: Parameters<Root['send']>[3], value = toNano('0.05')) =>
        p.root.send(from.getSender(), { value }, msg);

    describe('ownership', () => {
        it('moves in two steps: propose, then accept by the proposed owner', async () => {
            const next = await p.blockchain.treasury('next-owner');
            const ledger = new Ledger(p.blockchain);
            await ledger.snapshot([p.governance.address, next.address, p.root.address]);
            const proposed = await send(p.governance, { $$type: 'ProposeOwner', queryId: 1n, newOwner: next.address });
            expect(proposed.transactions).toHaveTransaction({ to: p.root.address, success: true });
            expect(eventOpcodes(proposed.transactions)).toEqual([OP.ownershipProposed]);
            expect((await p.root.getPendingOwner())?.equals(next.address)).toBe(true);
            expect((await p.root.getOwner()).equals(p.governance.address)).toBe(true);

            const accepted = await send(next, { $$type: 'AcceptOwnership', queryId: 2n });
            expect(accepted.transactions).toHaveTransaction({ to: p.root.address, success: true });
            expect(eventOpcodes(accepted.transactions)).toEqual([OP.ownershipTransferred]);
            expect((await p.root.getOwner()).equals(next.address)).toBe(true);
            expect(await p.root.getPendingOwner()).toBeNull();
            await ledger.expectConserved([...proposed.transactions, ...accepted.transactions]);

            // the previous owner has no power left
            const old = await send(p.governance, { $$type: 'SetThreshold', queryId: 3n, threshold: 1n });
            expect(old.transactions).toHaveTransaction({ to: p.root.address, success: false, exitCode: Number(ERR_NOT_OWNER) });
        });

        it('only the owner proposes', async () => {
            const r = await send(stranger, { $$type: 'ProposeOwner', queryId: 1n, newOwner: stranger.address });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, success: false, exitCode: Number(ERR_NOT_OWNER) });
            expect(await p.root.getPendingOwner()).toBeNull();
        });

        it('only the proposed owner accepts', async () => {
            const next = await p.blockchain.treasury('next-owner');
            await send(p.governance, { $$type: 'ProposeOwner', queryId: 1n, newOwner: next.address });
            const r = await send(stranger, { $$type: 'AcceptOwnership', queryId: 2n });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, success: false, exitCode: Number(ERR_NOT_PENDING_OWNER) });
            expect((await p.root.getOwner()).equals(p.governance.address)).toBe(true);
        });

        it('accepting without a proposal fails', async () => {
            const r = await send(stranger, { $$type: 'AcceptOwnership', queryId: 2n });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, success: false, exitCode: Number(ERR_NO_PENDING_OWNER) });
        });
    });

    describe('parameters', () => {
        it('the owner updates them', async () => {
            const params = { ...TEST_PARAMS, protocolFeeBps: 500n, minProviderStake: toNano('250') };
            const r = await send(p.governance, { $$type: 'SetParams', queryId: 1n, params });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, success: true });
            expect(eventOpcodes(r.transactions)).toEqual([OP.paramsUpdated]);
            expect(await p.root.getParams()).toEqual(params);
        });

        it('nobody else does', async () => {
            const r = await send(stranger, { $$type: 'SetParams', queryId: 1n, params: { ...TEST_PARAMS, protocolFeeBps: 0n } });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, success: false, exitCode: Number(ERR_NOT_OWNER) });
            expect(await p.root.getParams()).toEqual(TEST_PARAMS);
        });

        it('out-of-range values are refused', async () => {
            const r = await send(p.governance, { $$type: 'SetParams', queryId: 1n, params: { ...TEST_PARAMS, protocolFeeBps: 10001n } });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, success: false, exitCode: Number(ERR_INVALID_PARAMS) });
            expect(await p.root.getParams()).toEqual(TEST_PARAMS);
        });
    });

    describe('verifier set', () => {
        it('starts as set up by the fixture: 3 keys, threshold 2, epoch 4', async () => {
            const set = await p.root.getVerifierSet();
            expect(set.count).toBe(3n);
            expect(set.threshold).toBe(2n);
            expect(set.epoch).toBe(4n); // three additions and one threshold change
            for (const v of p.verifiers) expect(await p.root.getIsVerifier(key256(v.publicKey))).toBe(true);
        });

        it('add and remove bump the epoch and emit an event', async () => {
            const extra = key256(seededKey('verifier-d').publicKey);
            const added = await send(p.governance, { $$type: 'AddVerifier', queryId: 1n, publicKey: extra });
            expect(eventOpcodes(added.transactions)).toEqual([OP.verifierSetChanged]);
            expect(await p.root.getIsVerifier(extra)).toBe(true);
            expect((await p.root.getVerifierSet()).epoch).toBe(5n);
            const removed = await send(p.governance, { $$type: 'RemoveVerifier', queryId: 2n, publicKey: extra });
            expect(removed.transactions).toHaveTransaction({ to: p.root.address, success: true });
            expect(await p.root.getIsVerifier(extra)).toBe(false);
            const set = await p.root.getVerifierSet();
            expect([set.count, set.epoch]).toEqual([3n, 6n]);
        });

        it('only the owner changes it', async () => {
            const k = key256(seededKey('x').publicKey);
            for (const msg of [
                { $$type: 'AddVerifier' as const, queryId: 1n, publicKey: k },
                { $$type: 'RemoveVerifier' as const, queryId: 1n, publicKey: key256(p.verifiers[0].publicKey) },
                { $$type: 'SetThreshold' as const, queryId: 1n, threshold: 1n },
            ]) {
                const r = await send(stranger, msg);
                expect(r.transactions).toHaveTransaction({ to: p.root.address, success: false, exitCode: Number(ERR_NOT_OWNER) });
            }
            expect((await p.root.getVerifierSet()).epoch).toBe(4n);
        });

        it('refuses a key twice, an unknown removal, and more than MAX_VERIFIERS keys', async () => {
            let r = await send(p.governance, { $$type: 'AddVerifier', queryId: 1n, publicKey: key256(p.verifiers[0].publicKey) });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_VERIFIER_EXISTS) });
            r = await send(p.governance, { $$type: 'RemoveVerifier', queryId: 1n, publicKey: 12345n });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_VERIFIER_UNKNOWN) });
            for (let i = 3; i < Number(MAX_VERIFIERS); i++) {
                r = await send(p.governance, { $$type: 'AddVerifier', queryId: 1n, publicKey: BigInt(1000 + i) });
                expect(r.transactions).toHaveTransaction({ to: p.root.address, success: true });
            }
            r = await send(p.governance, { $$type: 'AddVerifier', queryId: 1n, publicKey: 999n });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_TOO_MANY_VERIFIERS) });
            expect((await p.root.getVerifierSet()).count).toBe(MAX_VERIFIERS);
        });

        it('keeps 1 <= threshold <= count', async () => {
            for (const threshold of [0n, 4n]) {
                const r = await send(p.governance, { $$type: 'SetThreshold', queryId: 1n, threshold });
                expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_INVALID_THRESHOLD) });
            }
            await send(p.governance, { $$type: 'SetThreshold', queryId: 1n, threshold: 3n });
            // removing a key would leave threshold 3 > 2 keys
            const r = await send(p.governance, { $$type: 'RemoveVerifier', queryId: 1n, publicKey: key256(p.verifiers[0].publicKey) });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_INVALID_THRESHOLD) });
            expect((await p.root.getVerifierSet()).count).toBe(3n);
        });
    });

    describe('measurement allowlist', () => {
        const m = 0xabcdefn;

        it('allow and withdraw, with events', async () => {
            const allowed = await send(p.governance, { $$type: 'AllowMeasurement', queryId: 1n, measurement: m });
            expect(eventOpcodes(allowed.transactions)).toEqual([OP.measurementChanged]);
            expect(await p.root.getIsMeasurementAllowed(m)).toBe(true);
            expect(await p.root.getMeasurementCount()).toBe(2n);
            const withdrawn = await send(p.governance, { $$type: 'WithdrawMeasurement', queryId: 2n, measurement: m });
            expect(eventOpcodes(withdrawn.transactions)).toEqual([OP.measurementChanged]);
            expect(await p.root.getIsMeasurementAllowed(m)).toBe(false);
            expect(await p.root.getMeasurementCount()).toBe(1n);
        });

        it('only the owner changes it', async () => {
            let r = await send(stranger, { $$type: 'AllowMeasurement', queryId: 1n, measurement: m });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_NOT_OWNER) });
            r = await send(stranger, { $$type: 'WithdrawMeasurement', queryId: 1n, measurement: key256(Buffer.alloc(32, 0x4d)) });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_NOT_OWNER) });
            expect(await p.root.getMeasurementCount()).toBe(1n);
        });

        it('refuses duplicates, unknown withdrawals, and more than MAX_MEASUREMENTS', async () => {
            await send(p.governance, { $$type: 'AllowMeasurement', queryId: 1n, measurement: m });
            let r = await send(p.governance, { $$type: 'AllowMeasurement', queryId: 1n, measurement: m });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_MEASUREMENT_EXISTS) });
            r = await send(p.governance, { $$type: 'WithdrawMeasurement', queryId: 1n, measurement: 1n });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_MEASUREMENT_UNKNOWN) });
            for (let i = 2; i < Number(MAX_MEASUREMENTS); i++) {
                await send(p.governance, { $$type: 'AllowMeasurement', queryId: 1n, measurement: BigInt(i) });
            }
            expect(await p.root.getMeasurementCount()).toBe(MAX_MEASUREMENTS);
            r = await send(p.governance, { $$type: 'AllowMeasurement', queryId: 1n, measurement: 99999n });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_TOO_MANY_MEASUREMENTS) });
        });
    });

    describe('treasury', () => {
        it('refuses withdrawals beyond the treasury, of nothing, or by others', async () => {
            let r = await send(p.governance, { $$type: 'WithdrawTreasury', queryId: 1n, amount: toNano('0.5'), to: stranger.address });
            // Root's balance holds its own gas reserve, but none of it is treasury
            expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_TREASURY_INSUFFICIENT) });
            r = await send(p.governance, { $$type: 'WithdrawTreasury', queryId: 1n, amount: 0n, to: stranger.address });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_INVALID_AMOUNT) });
            r = await send(stranger, { $$type: 'WithdrawTreasury', queryId: 1n, amount: 1n, to: stranger.address });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_NOT_OWNER) });
        });
    });

    it("a RegisterProvider from anything but that owner's Provider is refused", async () => {
        const r = await send(stranger, {
            $$type: 'RegisterProvider',
            queryId: 1n,
            stake: toNano('1000'),
            owner: stranger.address,
            totalStake: toNano('1000'),
            firstTime: true,
        });
        expect(r.transactions).toHaveTransaction({ to: p.root.address, success: false, exitCode: Number(ERR_NOT_PROVIDER) });
        expect(await p.root.getProviderCount()).toBe(0n);
    });

    it('governance excess goes back to the sender and TON is conserved', async () => {
        const ledger = new Ledger(p.blockchain);
        await ledger.snapshot([p.governance.address, p.root.address]);
        const rootBefore = (await p.blockchain.getContract(p.root.address)).balance;
        const r = await send(p.governance, { $$type: 'SetThreshold', queryId: 9n, threshold: 3n }, toNano('5'));
        expect(r.transactions).toHaveTransaction({ from: p.root.address, to: p.governance.address, value: (v) => v! > toNano('4.99') });
        // Root keeps none of it: its balance only pays its own gas
        expect((await p.blockchain.getContract(p.root.address)).balance).toBeLessThanOrEqual(rootBefore);
        await ledger.expectConserved(r.transactions);
    });
});
