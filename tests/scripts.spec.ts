// Every operator script's run(provider, args), executed against the sandbox through a
// NetworkProvider of its own (tests/scriptProvider.ts), as `npx blueprint run` would on testnet.
import { readFileSync, statSync, writeFileSync } from 'fs';
import { join } from 'path';
import { Blockchain, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, toNano } from '@ton/core';
import {
    InputError,
    Provider,
    Root,
    Session,
    STATUS_ACTIVE,
    STATUS_EXITING,
    STATUS_JAILED,
    STATUS_PAUSED,
    SESSION_CLOSING,
    SESSION_OPEN,
    TCB_UP_TO_DATE,
    buildAttestationProof,
    buildUsageReceipt,
    amountDue,
    providerForOwner,
    signProof,
    signUsageReceipt,
    clientKeyHashOf,
} from '../wrappers';
import { key256, seededKey } from './helpers';
import { sandboxProvider } from './scriptProvider';
import * as deployRoot from '../scripts/deployRoot';
import * as addVerifier from '../scripts/addVerifier';
import * as removeVerifier from '../scripts/removeVerifier';
import * as setThreshold from '../scripts/setThreshold';
import * as allowMeasurement from '../scripts/allowMeasurement';
import * as withdrawMeasurement from '../scripts/withdrawMeasurement';
import * as withdrawTreasury from '../scripts/withdrawTreasury';
import * as proposeOwner from '../scripts/proposeOwner';
import * as acceptOwnership from '../scripts/acceptOwnership';
import * as unjailProvider from '../scripts/unjailProvider';
import * as setParams from '../scripts/setParams';
import * as registerProvider from '../scripts/registerProvider';
import * as stake from '../scripts/stake';
import * as requestUnstake from '../scripts/requestUnstake';
import * as withdrawStake from '../scripts/withdrawStake';
import * as showProtocol from '../scripts/showProtocol';
import * as showProvider from '../scripts/showProvider';
import * as submitAttestation from '../scripts/submitAttestation';
import * as updateListing from '../scripts/updateListing';
import * as pauseProvider from '../scripts/pauseProvider';
import * as resumeProvider from '../scripts/resumeProvider';
import * as exitProvider from '../scripts/exitProvider';
import * as openSession from '../scripts/openSession';
import * as topUpSession from '../scripts/topUpSession';
import * as closeSession from '../scripts/closeSession';
import * as finalizeSession from '../scripts/finalizeSession';
import * as reportEquivocation from '../scripts/reportEquivocation';
import * as showSession from '../scripts/showSession';
import { tempDir } from './tmp';

const PARAMS_FILE = join(__dirname, '..', 'deploy', 'params.testnet.json');
const LISTING_FILE = join(__dirname, '..', 'deploy', 'listing.example.json');
const hex = (b: Buffer) => b.toString('hex');

describe('operator scripts', () => {
    let blockchain: Blockchain;
    let governance: SandboxContract<TreasuryContract>;
    let owner: SandboxContract<TreasuryContract>;
    let root: SandboxContract<Root>;
    let rootArg: string[];

    beforeEach(async () => {
        blockchain = await Blockchain.create();
        governance = await blockchain.treasury('governance');
        owner = await blockchain.treasury('gpu-owner');
        const run = sandboxProvider(blockchain, governance);
        const r = await deployRoot.run(run.provider, ['--params', PARAMS_FILE, '--yes']);
        expect(r.ok).toBe(true);
        root = blockchain.openContract(Root.fromAddress(r.address));
        rootArg = ['--root', root.address.toString()];
    });

    const as = (wallet: SandboxContract<TreasuryContract>, opts: Parameters<typeof sandboxProvider>[2] = {}) =>
        sandboxProvider(blockchain, wallet, opts);

    describe('deployRoot', () => {
        it("deployed Root with the file's parameters, owned by the sender; a second run changes nothing", async () => {
            expect((await root.getOwner()).equals(governance.address)).toBe(true);
            expect((await root.getParams()).minProviderStake).toBe(toNano('100'));
            const again = as(governance);
            await deployRoot.run(again.provider, ['--params', PARAMS_FILE, '--yes']);
            expect(again.output).toContain('This Root is already deployed: nothing to do.');
        });

        it('asks before sending and sends nothing when refused', async () => {
            const run = as(governance, { confirm: false });
            const r = await deployRoot.run(run.provider, ['--params', PARAMS_FILE, '--nonce', '7']);
            expect(run.prompts[0]).toMatch(/^Deploy it with 1 TON/);
            expect(run.output).toContain('Cancelled: nothing was sent.');
            expect(await run.provider.isContractDeployed(r.address)).toBe(false);
        });

        it('refuses a parameters file with a bad value, naming it', async () => {
            const dir = tempDir('params');
            const bad = join(dir, 'bad.json');
            writeFileSync(bad, JSON.stringify({ ...require(PARAMS_FILE), protocolFeeBps: 10001 }));
            await expect(deployRoot.run(as(governance).provider, ['--params', bad, '--yes'])).rejects.toThrow(
                /protocolFeeBps must be between 0 and 1000 basis points/,
            );
            writeFileSync(bad, '{"minProviderStake": 100}');
            await expect(deployRoot.run(as(governance).provider, ['--params', bad, '--yes'])).rejects.toThrow(
                /minProviderStake must be an amount of TON as a string/,
            );
        });

        it("reports Root's refusal by name when the network does not match", async () => {
            const run = as(governance, { network: 'testnet' });
            const r = await deployRoot.run(run.provider, ['--params', PARAMS_FILE, '--yes', '--nonce', '9']);
            expect(r.ok).toBe(false);
            expect(run.output).toContain('DeployRoot failed: ERR_WRONG_NETWORK (exit code 1302)');
            expect(run.output.some((l) => l.startsWith('Explorer: https://testnet.tonviewer.com/'))).toBe(true);
        });
    });

    describe('governance', () => {
        it('adds verifiers, sets the threshold, allows and withdraws a measurement, removes a verifier', async () => {
            const keys = ['a', 'b'].map((l) => hex(seededKey(l).publicKey));
            for (const key of keys) expect((await addVerifier.run(as(governance).provider, [...rootArg, '--key', key])).ok).toBe(true);
            expect((await setThreshold.run(as(governance).provider, [...rootArg, '--threshold', '2'])).ok).toBe(true);
            const m = hex(Buffer.alloc(32, 0xab));
            expect((await allowMeasurement.run(as(governance).provider, [...rootArg, '--measurement', m])).ok).toBe(true);
            expect(await root.getIsMeasurementAllowed(key256(Buffer.alloc(32, 0xab)))).toBe(true);
            expect((await withdrawMeasurement.run(as(governance).provider, [...rootArg, '--measurement', m])).ok).toBe(true);
            expect(await root.getIsMeasurementAllowed(key256(Buffer.alloc(32, 0xab)))).toBe(false);
            // removing a key would leave threshold 2 > 1 key: refused by name
            const refused = as(governance);
            const r = await removeVerifier.run(refused.provider, [...rootArg, '--key', keys[0]]);
            expect(r.ok).toBe(false);
            expect(refused.output).toContain('RemoveVerifier to Root failed: ERR_INVALID_THRESHOLD (exit code 1205)');
            const set = await root.getVerifierSet();
            expect([set.count, set.threshold]).toEqual([2n, 2n]);
        });

        it('names the contract error when the sender is not the owner', async () => {
            const run = as(owner);
            const r = await addVerifier.run(run.provider, [...rootArg, '--key', hex(seededKey('x').publicKey)]);
            expect(r.ok).toBe(false);
            expect(run.output).toContain('AddVerifier to Root failed: ERR_NOT_OWNER (exit code 1001)');
        });

        it('refuses bad input and too little value before sending anything', async () => {
            await expect(addVerifier.run(as(governance).provider, [...rootArg, '--key', 'xyz'])).rejects.toThrow(
                new InputError('--key: expected 32 bytes as 64 hex characters'),
            );
            await expect(addVerifier.run(as(governance).provider, ['--root', 'nowhere', '--key', 'ab'.repeat(32)])).rejects.toThrow(
                '--root: "nowhere" is not a TON address',
            );
            await expect(setThreshold.run(as(governance).provider, [...rootArg, '--threshold', '0'])).rejects.toThrow(
                '--threshold must be a whole number from 1 to 16',
            );
            await expect(
                addVerifier.run(as(governance).provider, [...rootArg, '--key', 'ab'.repeat(32), '--value', '0.001']),
            ).rejects.toThrow('AddVerifier to Root needs at least 0.02 TON attached for gas and fees; 0.001 TON was given');
            const ghost = new Address(0, Buffer.alloc(32, 9)).toString();
            await expect(addVerifier.run(as(governance).provider, ['--root', ghost, '--key', 'ab'.repeat(32)])).rejects.toThrow(
                `no Root is deployed at --root`,
            );
            expect((await root.getVerifierSet()).count).toBe(0n);
        });

        it('moves ownership in two steps', async () => {
            const next = await blockchain.treasury('next-owner');
            await proposeOwner.run(as(governance).provider, [...rootArg, '--new-owner', next.address.toString()]);
            expect((await acceptOwnership.run(as(next).provider, rootArg)).ok).toBe(true);
            expect((await root.getOwner()).equals(next.address)).toBe(true);
        });

        it('changes parameters from a file; refuses a treasury withdrawal beyond the treasury', async () => {
            expect((await setParams.run(as(governance).provider, [...rootArg, '--params', PARAMS_FILE])).ok).toBe(true);
            const run = as(governance);
            const r = await withdrawTreasury.run(run.provider, [...rootArg, '--amount', '5', '--to', governance.address.toString()]);
            expect(r.ok).toBe(false);
            expect(run.output).toContain('WithdrawTreasury to Root failed: ERR_TREASURY_INSUFFICIENT (exit code 1102)');
        });

        it('reports a refusal further down the chain (unjailing a provider that is not jailed)', async () => {
            await registerProvider.run(as(owner).provider, [...rootArg, '--listing', LISTING_FILE, '--value', '150']);
            const provider = await providerForOwner(root.address, owner.address);
            const run = as(governance);
            const r = await unjailProvider.run(run.provider, [...rootArg, '--provider', provider.address.toString()]);
            expect(r.ok).toBe(false);
            expect(run.output.find((l) => l.startsWith('UnjailProvider to Root failed'))).toContain('ERR_NOT_JAILED (exit code 1413) at ');
        });
    });

    describe('provider', () => {
        it('registers, stakes, unstakes and reports what it cannot withdraw yet', async () => {
            const reg = await registerProvider.run(as(owner).provider, [...rootArg, '--listing', LISTING_FILE, '--value', '150']);
            expect(reg.ok).toBe(true);
            const provider = blockchain.openContract(Provider.fromAddress(reg.address));
            expect(await provider.getStatus()).toBe(STATUS_ACTIVE);
            const stakeBefore = await provider.getStake();
            expect(stakeBefore).toBeGreaterThan(toNano('149.8'));
            const staker = await blockchain.treasury('staker');
            expect((await stake.run(as(staker).provider, ['--provider', reg.address.toString(), '--amount', '20'])).ok).toBe(true);
            expect(await provider.getStake()).toBeGreaterThan(stakeBefore + toNano('19.9'));
            await expect(
                requestUnstake.run(as(owner).provider, ['--provider', reg.address.toString(), '--amount', '1000']),
            ).rejects.toThrow(/TON of stake is free/);
            expect((await requestUnstake.run(as(owner).provider, ['--provider', reg.address.toString(), '--amount', '10'])).ok).toBe(true);
            const run = as(owner);
            const w = await withdrawStake.run(run.provider, ['--provider', reg.address.toString()]);
            expect(w.ok).toBe(false);
            expect(run.output).toContain('WithdrawStake failed: ERR_NOTHING_TO_WITHDRAW (exit code 1407)');
        });

        it('refuses a registration that cannot reach the minimum stake, and a bad listing file', async () => {
            await expect(
                registerProvider.run(as(owner).provider, [...rootArg, '--listing', LISTING_FILE, '--value', '50']),
            ).rejects.toThrow('Register needs at least 100.15 TON attached for gas and fees; 50 TON was given');
            const dir = tempDir('listing');
            writeFileSync(join(dir, 'l.json'), JSON.stringify({ ...require(LISTING_FILE), models: [] }));
            await expect(
                registerProvider.run(as(owner).provider, [...rootArg, '--listing', join(dir, 'l.json'), '--value', '150']),
            ).rejects.toThrow('models must list at least one model');
        });
    });

    describe('read-only', () => {
        it('shows the protocol and a provider', async () => {
            await addVerifier.run(as(governance).provider, [...rootArg, '--key', hex(seededKey('a').publicKey)]);
            const protocol = as(governance);
            await showProtocol.run(protocol.provider, rootArg);
            expect(protocol.output.join('\n')).toContain(`verifiers (1, threshold 1, epoch 1):\n    ${hex(seededKey('a').publicKey)}`);
            expect(protocol.output.join('\n')).toContain('min stake 100 TON');
            await registerProvider.run(as(owner).provider, [...rootArg, '--listing', LISTING_FILE, '--value', '150']);
            const view = as(governance);
            await showProvider.run(view.provider, [...rootArg, '--owner', owner.address.toString()]);
            const text = view.output.join('\n');
            expect(text).toContain(': active, owner');
            expect(text).toContain('Qwen/Qwen3-8B: 0.05 / 0.2 TON per million tokens in / out');
            expect(text).toContain('not attested');
        });
    });

    describe('provider operations and client sessions', () => {
        const verifiers = ['va', 'vb'].map((l) => seededKey(`script-${l}`));
        const enclave = seededKey('script-enclave');
        const measurement = Buffer.alloc(32, 0x6d);
        let provider: SandboxContract<Provider>;
        let providerArg: string[];
        let dir: string;

        beforeEach(async () => {
            for (const v of verifiers) await addVerifier.run(as(governance).provider, [...rootArg, '--key', hex(v.publicKey)]);
            await setThreshold.run(as(governance).provider, [...rootArg, '--threshold', '2']);
            await allowMeasurement.run(as(governance).provider, [...rootArg, '--measurement', hex(measurement)]);
            const reg = await registerProvider.run(as(owner).provider, [...rootArg, '--listing', LISTING_FILE, '--value', '300']);
            provider = blockchain.openContract(Provider.fromAddress(reg.address));
            providerArg = ['--provider', reg.address.toString()];
            dir = tempDir('scripts');
            // what a verifier's POST /v1/attest returns, saved as a file
            const now = Math.floor(Date.now() / 1000);
            const proof = buildAttestationProof({
                globalId: -239,
                root: root.address,
                provider: reg.address,
                signingKey: enclave.publicKey,
                encryptionKey: Buffer.alloc(32, 1),
                measurement,
                tcbStatus: Number(TCB_UP_TO_DATE),
                issuedAt: now,
                validUntil: now + 6 * 3600,
                nonce: 1n,
            });
            const signatures = verifiers.map((v) => signProof(proof, v.secretKey));
            writeFileSync(
                join(dir, 'proof.json'),
                JSON.stringify({
                    proof: proof.toBoc().toString('base64'),
                    signatures: signatures.map((x) => ({ publicKey: hex(x.publicKey), signature: hex(x.signature) })),
                }),
            );
        });

        it("attests with a verifier's proof file, updates the listing, pauses, resumes, exits", async () => {
            expect((await submitAttestation.run(as(owner).provider, [...providerArg, '--proof', join(dir, 'proof.json')])).ok).toBe(true);
            expect((await provider.getAttestation())!.signingKey).toBe(key256(enclave.publicKey));
            const listing = join(dir, 'listing.json');
            writeFileSync(listing, JSON.stringify({ ...require(LISTING_FILE), gpuCount: 4 }));
            expect((await updateListing.run(as(owner).provider, [...providerArg, '--listing', listing])).ok).toBe(true);
            expect((await provider.getListing())!.gpuCount).toBe(4n);
            await pauseProvider.run(as(owner).provider, providerArg);
            expect(await provider.getStatus()).toBe(STATUS_PAUSED);
            await resumeProvider.run(as(owner).provider, providerArg);
            expect(await provider.getStatus()).toBe(STATUS_ACTIVE);
            await exitProvider.run(as(owner).provider, providerArg);
            expect(await provider.getStatus()).toBe(STATUS_EXITING);
        });

        it('refuses a proof for another provider before sending', async () => {
            const other = await blockchain.treasury('other-owner');
            await registerProvider.run(as(other).provider, [...rootArg, '--listing', LISTING_FILE, '--value', '150']);
            const otherAddress = (await providerForOwner(root.address, other.address)).address.toString();
            await expect(
                submitAttestation.run(as(other).provider, ['--provider', otherAddress, '--proof', join(dir, 'proof.json')]),
            ).rejects.toThrow(/the proof is for provider/);
        });

        it('a client opens, tops up, closes and finalizes a session; an equivocation report jails the provider', async () => {
            const client = await blockchain.treasury('client');
            // refused before sending: not attested yet, then a model it does not list
            await expect(
                openSession.run(as(client).provider, [
                    ...rootArg,
                    ...providerArg,
                    '--model',
                    'Qwen/Qwen3-8B',
                    '--budget',
                    '5',
                    '--client-key',
                    join(dir, 'client.key.json'),
                ]),
            ).rejects.toThrow(/no valid attestation/);
            await submitAttestation.run(as(owner).provider, [...providerArg, '--proof', join(dir, 'proof.json')]);
            await expect(
                openSession.run(as(client).provider, [
                    ...rootArg,
                    ...providerArg,
                    '--model',
                    'nope',
                    '--budget',
                    '5',
                    '--client-key',
                    join(dir, 'client.key.json'),
                ]),
            ).rejects.toThrow('the provider does not list the model nope');
            await expect(
                openSession.run(as(client).provider, [
                    ...rootArg,
                    ...providerArg,
                    '--model',
                    'Qwen/Qwen3-8B',
                    '--budget',
                    '0.5',
                    '--client-key',
                    join(dir, 'client.key.json'),
                ]),
            ).rejects.toThrow('the budget must be at least 1 TON');

            const opened = await openSession.run(as(client).provider, [
                ...rootArg,
                ...providerArg,
                '--model',
                'Qwen/Qwen3-8B',
                '--budget',
                '5',
                '--nonce',
                '1',
                '--client-key',
                join(dir, 'client.key.json'),
            ]);
            expect(opened.ok).toBe(true);
            const key = JSON.parse(readFileSync(join(dir, 'client.key.json'), 'utf8'));
            expect(statSync(join(dir, 'client.key.json')).mode & 0o077).toBe(0); // private to its owner
            const session = blockchain.openContract(Session.fromAddress(opened.address));
            const sessionArg = ['--session', opened.address.toString()];
            expect(await session.getStatus()).toBe(SESSION_OPEN);
            expect(await session.getClientKeyHash()).toBe(clientKeyHashOf(Buffer.from(key.publicKey, 'hex')));
            expect(await session.getBudget()).toBeGreaterThan(toNano('5'));
            expect((await topUpSession.run(as(client).provider, [...sessionArg, '--amount', '2'])).ok).toBe(true);
            expect(await session.getBudget()).toBeGreaterThan(toNano('6.99'));

            const openedAt = Number(await session.getOpenedAt());
            const receipt = (amountOut: bigint) => {
                const cell = buildUsageReceipt({
                    globalId: -239,
                    session: opened.address,
                    openedAt,
                    seqno: 1,
                    tokensIn: 0n,
                    tokensOut: amountOut,
                    amountDue: amountDue(0n, amountOut, { pricePerMillionIn: toNano('0.05'), pricePerMillionOut: toNano('0.2') }),
                    resultsHash: 0n,
                });
                return { receipt: cell.toBoc().toString('base64'), signature: hex(signUsageReceipt(cell, enclave.secretKey)) };
            };
            expect((await closeSession.run(as(client).provider, sessionArg)).ok).toBe(true);
            expect(await session.getStatus()).toBe(SESSION_CLOSING);
            const early = as(client);
            expect((await finalizeSession.run(early.provider, sessionArg)).ok).toBe(false);
            expect(early.output).toContain('FinalizeSession failed: ERR_TOO_EARLY (exit code 1517)');

            writeFileSync(join(dir, 'receipts.json'), JSON.stringify([receipt(1_000_000n), receipt(2_000_000n)]));
            const reporter = await blockchain.treasury('reporter');
            expect(
                (await reportEquivocation.run(as(reporter).provider, [...sessionArg, '--receipts', join(dir, 'receipts.json')])).ok,
            ).toBe(true);
            expect(await provider.getStatus()).toBe(STATUS_JAILED);

            const view = as(client);
            await showSession.run(view.provider, sessionArg);
            expect(view.output.join('\n')).toContain(': closing');
            expect(view.output.join('\n')).toContain('prices 0.05 / 0.2 TON per million tokens, fee 250 bps');

            // after the grace window anyone finalizes; the client gets the unclaimed budget back
            blockchain.now = Math.floor(Date.now() / 1000) + 2 * 3600;
            const clientBefore = (await blockchain.getContract(client.address)).balance;
            expect((await finalizeSession.run(as(reporter).provider, sessionArg)).ok).toBe(true);
            expect((await blockchain.getContract(client.address)).balance - clientBefore).toBeGreaterThan(toNano('6.9'));
        });
    });
});
