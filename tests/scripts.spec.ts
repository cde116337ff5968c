// Every operator script's run(provider, args), executed against the sandbox through a
// NetworkProvider of its own (testkit/script-provider.ts), as `npx blueprint run` would on testnet.
import { readFileSync, statSync, writeFileSync } from 'fs';
import { join } from 'path';
import { Blockchain, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, toNano } from '@ton/core';
import {
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
import { PRICES, key256, sandboxProvider, seededKey, tokens } from '../testkit';
import { copyAccount } from '../testkit/transactions';
import { InputError } from '../scripts/lib';
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

// Runs a script's polling on jest's fake clock: each time the script waits on a timer, the clock
// jumps to it (between, the sandbox's own work runs in real time).
async function onFakeClock<T>(run: Promise<T>): Promise<T> {
    let settled = false;
    run.then(
        () => (settled = true),
        () => (settled = true),
    );
    while (!settled) {
        if (jest.getTimerCount() > 0) await jest.advanceTimersToNextTimerAsync();
        else await new Promise((r) => setImmediate(r));
    }
    return run;
}

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

    // Waits show through Blueprint's UI (scripts/lib/send.ts scriptOutput): a spinner in its bottom bar
    // when stdout is a terminal, plain lines through ui.write elsewhere, nothing with --quiet or COCOON_QUIET=1.
    describe('progress while waiting', () => {
        const key = hex(seededKey('progress').publicKey);
        const waiting = 'Waiting for AddVerifier to Root to be processed';
        const stdoutIsTTY = process.stdout.isTTY;
        const quietBefore = process.env.COCOON_QUIET;
        const asTerminal = (tty: boolean) => Object.defineProperty(process.stdout, 'isTTY', { value: tty, configurable: true });
        beforeEach(() => asTerminal(false));
        afterEach(() => {
            asTerminal(stdoutIsTTY);
            if (quietBefore === undefined) delete process.env.COCOON_QUIET;
            else process.env.COCOON_QUIET = quietBefore;
            jest.useRealTimers();
        });

        it('prints what it waits for when the wait starts and when it ends, between the send and the outcome', async () => {
            const run = as(governance);
            expect((await addVerifier.run(run.provider, [...rootArg, '--key', key])).ok).toBe(true);
            expect(run.output.slice(0, 4)).toEqual([
                'Sending AddVerifier to Root with 0.05 TON…',
                `${waiting}…`,
                expect.stringMatching(new RegExp(`^${waiting}: done \\(\\d+ s\\)$`)),
                'AddVerifier to Root: done',
            ]);
        });

        it('on a terminal, shows it in the bottom bar and clears it', async () => {
            asTerminal(true);
            const run = as(governance);
            const ui = run.provider.ui();
            const drawn = jest.spyOn(ui, 'setActionPrompt');
            const cleared = jest.spyOn(ui, 'clearActionPrompt');
            expect((await addVerifier.run(run.provider, [...rootArg, '--key', key])).ok).toBe(true);
            expect(drawn).toHaveBeenCalledWith(`⠋ ${waiting}… 0 s`);
            expect(cleared).toHaveBeenCalledTimes(1);
            expect(run.output.filter((l) => l.startsWith('Waiting'))).toEqual([]);
        });

        it.each([
            ['--quiet', [] as string[], ['--quiet']],
            ['COCOON_QUIET=1', ['COCOON_QUIET'], []],
        ])('with %s prints the outcome but not the wait', async (_, env, flags) => {
            for (const name of env) process.env[name] = '1';
            const run = as(governance);
            expect((await addVerifier.run(run.provider, [...rootArg, '--key', key, ...flags])).ok).toBe(true);
            expect(run.output.filter((l) => l.startsWith('Waiting'))).toEqual([]);
            expect(run.output).toContain('AddVerifier to Root: done');
        });

        it('when no transaction comes, says the wait failed, even with --quiet, and gives the reason', async () => {
            // a network where the message never arrives: no sandbox result, the destination never changes
            const run = as(governance);
            const base = run.provider;
            const lost = {
                ...base,
                sender: () => ({ address: governance.address, send: async () => undefined }),
                getContractState: async () => ({ balance: 0n, last: null, state: { type: 'uninit' } }),
                api: () => ({}),
            } as unknown as typeof base;
            jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
            const sent = addVerifier.run(lost, [...rootArg, '--key', key, '--quiet']);
            await expect(onFakeClock(sent)).rejects.toThrow('after 60 s: the message may still be in flight');
            expect(run.output.filter((l) => l.startsWith('Waiting'))).toEqual([`${waiting}: failed (60 s)`]);
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
            expect(text).toContain('Qwen/Qwen3-8B: prompt 0.05, cached 0.025, completion 0.2, reasoning 0.2 TON per million tokens');
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
                modelHash: Buffer.from(JSON.parse(readFileSync(LISTING_FILE, 'utf8')).models[0].modelHash, 'hex'), // the listed model
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
            // a contract that merely answers like this Session (a copy of its state elsewhere) gets nothing
            const copy = new Address(0, Buffer.alloc(32, 0x3c));
            await copyAccount(blockchain, opened.address, copy);
            for (const script of [topUpSession, closeSession, finalizeSession, reportEquivocation, showSession]) {
                await expect(script.run(as(client).provider, ['--session', copy.toString(), '--amount', '2'])).rejects.toThrow(
                    `--session ${copy.toString()} is not a Session of Cocoon's code`,
                );
            }
            expect((await blockchain.getContract(copy)).balance).toBe(toNano('1'));
            await expect(
                topUpSession.run(as(client).provider, ['--session', provider.address.toString(), '--amount', '2']),
            ).rejects.toThrow(`--session ${provider.address.toString()} cannot be read as a Session`);

            const openedAt = Number(await session.getOpenedAt());
            const receipt = (amountOut: bigint) => {
                const cell = buildUsageReceipt({
                    globalId: -239,
                    session: opened.address,
                    openedAt,
                    seqno: 1,
                    lastRequestAt: 0,
                    ...tokens(0n, amountOut),
                    amountDue: amountDue(tokens(0n, amountOut), PRICES),
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
            expect(view.output.join('\n')).toContain(
                'prices: prompt 0.05, cached 0.025, completion 0.2, reasoning 0.2 TON per million tokens; fee 250 bps',
            );

            // after the grace window anyone finalizes; the client gets the unclaimed budget back
            blockchain.now = Math.floor(Date.now() / 1000) + 2 * 3600;
            const clientBefore = (await blockchain.getContract(client.address)).balance;
            expect((await finalizeSession.run(as(reporter).provider, sessionArg)).ok).toBe(true);
            expect((await blockchain.getContract(client.address)).balance - clientBefore).toBeGreaterThan(toNano('6.9'));
        });
    });
});

// ---------------------------------------------------------------------------------------------
// Timelocked governance and TON's multisig: executeChange, cancelChange, showProtocol's pending
// changes, what the governance scripts report, and the multisig* scripts.
// ---------------------------------------------------------------------------------------------
import { NetworkProvider } from '@ton/blueprint';
import { BlockchainTransaction, SendMessageResult } from '@ton/sandbox';
import { Cell, ContractProvider, StateInit, external } from '@ton/core';
import { ERR_CHANGE_NOT_DUE, ERR_NOT_OWNER as ERR_NOT_OWNER_CODE, MAX_REVOCATION_SLASH_BPS, accountOf, ed25519FromSeed } from '../wrappers';
import * as executeChange from '../scripts/executeChange';
import * as cancelChange from '../scripts/cancelChange';
import * as multisigKey from '../scripts/multisigKey';
import * as multisigDeploy from '../scripts/multisigDeploy';
import * as multisigOrder from '../scripts/multisigOrder';
import * as multisigSign from '../scripts/multisigSign';
import * as multisigSend from '../scripts/multisigSend';

describe('timelocked governance scripts', () => {
    let blockchain: Blockchain;
    let governance: SandboxContract<TreasuryContract>;
    let owner: SandboxContract<TreasuryContract>;
    let stranger: SandboxContract<TreasuryContract>;
    let root: SandboxContract<Root>;
    let rootArg: string[];
    const keys = ['ga', 'gb', 'gc'].map((l) => hex(seededKey(`timelock-${l}`).publicKey));
    const measurement = hex(Buffer.alloc(32, 0x3c));
    const DELAY = 691_200; // deploy/params.testnet.json's governanceDelay
    const as = (wallet: SandboxContract<TreasuryContract>) => sandboxProvider(blockchain, wallet);

    beforeEach(async () => {
        blockchain = await Blockchain.create();
        governance = await blockchain.treasury('governance');
        owner = await blockchain.treasury('gpu-owner');
        stranger = await blockchain.treasury('stranger');
        const r = await deployRoot.run(as(governance).provider, ['--params', PARAMS_FILE, '--yes']);
        root = blockchain.openContract(Root.fromAddress(r.address));
        rootArg = ['--root', root.address.toString()];
    });

    // the first provider registers: from then on changes wait out the governance delay
    const register = () => registerProvider.run(as(owner).provider, [...rootArg, '--listing', LISTING_FILE, '--value', '150']);

    it('before the first provider registers, a governance script says the change applied at once', async () => {
        const run = as(governance);
        const r = await addVerifier.run(run.provider, [...rootArg, '--key', keys[0]]);
        expect(r).toMatchObject({ ok: true, applied: true });
        expect(run.output).toContain(
            'AddVerifier to Root: applied at once (no provider has registered yet: until one does, changes need no timelock)',
        );
        expect(await root.getIsVerifier(BigInt('0x' + keys[0]))).toBe(true);
    });

    it('afterwards each governance script reports the proposal; showProtocol lists it; anyone executes it when due', async () => {
        for (const key of keys.slice(0, 2)) await addVerifier.run(as(governance).provider, [...rootArg, '--key', key]);
        await allowMeasurement.run(as(governance).provider, [...rootArg, '--measurement', measurement]);
        await register();
        const t0 = Math.floor(Date.now() / 1000);

        const dir = tempDir('timelock');
        const raised = join(dir, 'params.json');
        writeFileSync(raised, JSON.stringify({ ...require(PARAMS_FILE), revocationSlashBps: Number(MAX_REVOCATION_SLASH_BPS) }));
        const proposals: [
            string,
            () => Promise<{ ok: boolean; applied?: boolean; proposed?: { id: number; executeAt: number } }>,
            RegExp,
        ][] = [
            [
                'RemoveVerifier',
                () => removeVerifier.run(run.provider, [...rootArg, '--key', keys[1]]),
                new RegExp(`remove verifier ${keys[1]}`),
            ],
            [
                'SetParams',
                () => setParams.run(run.provider, [...rootArg, '--params', raised]),
                /set parameters: revocationSlashBps 1000 -> 2000$/,
            ],
            ['SetThreshold', () => setThreshold.run(run.provider, [...rootArg, '--threshold', '2']), /set threshold to 2/],
            [
                'WithdrawMeasurement',
                () => withdrawMeasurement.run(run.provider, [...rootArg, '--measurement', measurement]),
                /withdraw measurement/,
            ],
            ['AddVerifier', () => addVerifier.run(run.provider, [...rootArg, '--key', keys[2]]), new RegExp(`add verifier ${keys[2]}`)],
        ];
        let run = as(governance);
        for (const [i, [name, send, what]] of proposals.entries()) {
            run = as(governance);
            const r = await send();
            expect(r).toMatchObject({ ok: true, applied: false, proposed: { id: i } });
            expect(r.proposed!.executeAt).toBeGreaterThanOrEqual(t0 + DELAY);
            expect(r.proposed!.executeAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + DELAY);
            const line = run.output.find((l) => l.startsWith(`${name} to Root: proposed as change #${i} (`))!;
            expect(line.slice(0, -1)).toMatch(what);
            const iso = new Date(r.proposed!.executeAt * 1000).toISOString();
            expect(run.output.join('\n')).toContain(
                `anyone may execute it from ${iso} (executeChange --root ${root.address.toString()} --id ${i})`,
            );
            if (name !== 'SetParams' && name !== 'AddVerifier')
                expect(run.output).toContain(`  while it waits, new attestations are valid until ${iso} at the latest`);
        }
        // nothing applied yet
        expect(await root.getIsVerifier(BigInt('0x' + keys[1]))).toBe(true);
        expect(await root.getIsVerifier(BigInt('0x' + keys[2]))).toBe(false);

        const pending = await root.getPendingChanges();
        const view = as(stranger);
        const shown = await showProtocol.run(view.provider, rootArg);
        const text = view.output.join('\n');
        expect(text).toContain('pending governance changes (5):');
        const at = (id: number) => new Date(Number(pending.get(id)!.executeAt) * 1000).toISOString();
        expect(text).toContain(`    #0 remove verifier ${keys[1]} (restricting): executable from ${at(0)}`);
        expect(text).toContain(`    #1 set parameters: revocationSlashBps 1000 -> 2000: executable from ${at(1)}`);
        expect(text).toContain(`    #4 add verifier ${keys[2]}: executable from ${at(4)}`);
        expect(text).toContain(`  restricted from ${at(0)}: new attestations end then at the latest`);
        expect(shown.pendingChanges.map((c) => c.id)).toEqual([0, 1, 2, 3, 4]);
        expect(shown.restrictedFrom).toBe(Number(pending.get(0)!.executeAt));

        // too early: Root refuses, and the script says when
        let exec = as(stranger);
        let r = await executeChange.run(exec.provider, [...rootArg, '--id', '4']);
        expect(r.ok).toBe(false);
        expect(exec.output).toContain(`ExecuteChange #4 to Root failed: ERR_CHANGE_NOT_DUE (exit code ${ERR_CHANGE_NOT_DUE})`);
        expect(exec.output).toContain(`  it may execute from ${at(4)}`);

        // when due, a stranger executes it, after the changes proposed before it
        blockchain.now = Number(pending.get(4)!.executeAt);
        exec = as(stranger);
        r = await executeChange.run(exec.provider, [...rootArg, '--id', '4']);
        expect(r.ok).toBe(false);
        expect(exec.output).toContain('  changes execute in the order proposed: execute (or let expire) #0 first');
        for (const id of [0, 1, 2, 3]) await executeChange.run(as(stranger).provider, [...rootArg, '--id', String(id)]);
        exec = as(stranger);
        r = await executeChange.run(exec.provider, [...rootArg, '--id', '4']);
        expect(r.ok).toBe(true);
        expect(exec.output).toContain(`Change #4 applied: add verifier ${keys[2]}`);
        expect(await root.getIsVerifier(BigInt('0x' + keys[2]))).toBe(true);
        expect((await root.getPendingChanges()).has(4)).toBe(false);

        // an id that does not wait is refused before sending
        await expect(executeChange.run(as(stranger).provider, [...rootArg, '--id', '4'])).rejects.toThrow(
            new InputError(`no change #4 waits at Root ${root.address.toString()} (none is pending)`),
        );
        await expect(executeChange.run(as(stranger).provider, [...rootArg, '--id', 'x'])).rejects.toThrow('--id must be a change id');

        // every change executed: showProtocol shows no restriction left
        const after = as(stranger);
        await showProtocol.run(after.provider, rootArg);
        expect(after.output).toContain('  restricted from: none (no restricting change waits)');
        expect(after.output).toContain('  pending governance changes (0):');
    });

    it('cancelChange: the owner cancels, a stranger is refused by Root; executeChange drops a change that no longer applies', async () => {
        for (const key of keys) await addVerifier.run(as(governance).provider, [...rootArg, '--key', key]);
        await register();
        await removeVerifier.run(as(governance).provider, [...rootArg, '--key', keys[0]]);
        await removeVerifier.run(as(governance).provider, [...rootArg, '--key', keys[0]]);
        await addVerifier.run(as(governance).provider, [...rootArg, '--key', hex(seededKey('timelock-gd').publicKey)]);

        const refused = as(stranger);
        expect((await cancelChange.run(refused.provider, [...rootArg, '--id', '2'])).ok).toBe(false);
        expect(refused.output).toContain(`CancelChange #2 to Root failed: ERR_NOT_OWNER (exit code ${ERR_NOT_OWNER_CODE})`);
        const run = as(governance);
        expect((await cancelChange.run(run.provider, [...rootArg, '--id', '2'])).ok).toBe(true);
        expect(run.output).toContain('Change #2 cancelled: it will not apply');
        expect([...(await root.getPendingChanges()).keys()]).toEqual([0, 1]);
        await expect(cancelChange.run(as(governance).provider, [...rootArg, '--id', '2'])).rejects.toThrow(/no change #2 waits/);

        // the same key removed twice: the second no longer applies when due
        blockchain.now = Number((await root.getPendingChanges()).get(1)!.executeAt);
        expect((await executeChange.run(as(stranger).provider, [...rootArg, '--id', '0'])).ok).toBe(true);
        const stale = as(stranger);
        expect(await executeChange.run(stale.provider, [...rootArg, '--id', '1'])).toMatchObject({ ok: true, applied: false });
        expect(stale.output.find((l) => l.startsWith('Change #1 dropped'))).toContain("it no longer applies to Root's state");
        expect((await root.getPendingChanges()).size).toBe(0);
    });
});

// A ContractProvider on the sandbox whose external() runs the message at once (the sandbox's own
// provider only queues externals until a contract opened with openContract sends something), and
// whose getTransactions() answers from the transactions those externals started (the sandbox's
// own compares transaction hashes as Buffer objects by identity, so that a lookup by lt and hash
// never finds anything).
function runningProvider(
    blockchain: Blockchain,
    address: Address,
    init: StateInit | undefined,
    seen: BlockchainTransaction[],
): ContractProvider {
    const base = blockchain.provider(address, init);
    return {
        getState: () => base.getState(),
        get: (name, args) => base.get(name, args),
        internal: (via, args) => base.internal(via, args),
        open: (contract) => base.open(contract),
        getTransactions: async (a, lt, _hash, limit) =>
            seen
                .filter((t) => accountOf(t).equals(a) && t.lt <= lt)
                .sort((x, y) => (x.lt < y.lt ? 1 : -1))
                .slice(0, limit),
        external: async (body: Cell) => {
            const active = (await base.getState()).state.type === 'active';
            const r: SendMessageResult = await blockchain.sendMessage(external({ to: address, init: active ? undefined : init, body }));
            seen.push(...r.transactions);
        },
    };
}

describe('multisig scripts', () => {
    let blockchain: Blockchain;
    let governance: SandboxContract<TreasuryContract>;
    let stranger: SandboxContract<TreasuryContract>;
    let root: SandboxContract<Root>;
    let rootArg: string[];
    let dir: string;
    let keyFiles: string[];
    let publicKeys: string[];
    let multisigArg: string[];
    const newVerifier = hex(seededKey('multisig-new-verifier').publicKey);
    const seen: BlockchainTransaction[] = [];

    // a script run whose provider() runs external messages at once, as a network would
    const as = (wallet: SandboxContract<TreasuryContract>) => {
        const run = sandboxProvider(blockchain, wallet);
        const provider = { ...run.provider, provider: (a: Address, init?: StateInit) => runningProvider(blockchain, a, init, seen) };
        return { ...run, provider: provider as unknown as NetworkProvider };
    };

    beforeEach(async () => {
        seen.length = 0;
        blockchain = await Blockchain.create();
        governance = await blockchain.treasury('governance');
        stranger = await blockchain.treasury('stranger');
        const owner = await blockchain.treasury('gpu-owner');
        const r = await deployRoot.run(as(governance).provider, ['--params', PARAMS_FILE, '--yes']);
        root = blockchain.openContract(Root.fromAddress(r.address));
        rootArg = ['--root', root.address.toString()];
        await registerProvider.run(as(owner).provider, [...rootArg, '--listing', LISTING_FILE, '--value', '150']);

        // three owners' keys, a 2-of-3 multisig, and Root's ownership moved to it
        dir = tempDir('multisig');
        keyFiles = ['alice', 'bob', 'carol'].map((n) => join(dir, `${n}.key`));
        publicKeys = [];
        for (const file of keyFiles) publicKeys.push((await multisigKey.run(as(stranger).provider, ['--out', file])).publicKey);
        const deployed = await multisigDeploy.run(as(governance).provider, ['--owners', publicKeys.join(','), '--k', '2', '--yes']);
        expect(deployed.ok).toBe(true);
        multisigArg = ['--multisig', deployed.address.toString()];
        await proposeOwner.run(as(governance).provider, [...rootArg, '--new-owner', deployed.address.toString()]);
        const accept = join(dir, 'accept.json');
        await multisigOrder.run(as(stranger).provider, [...multisigArg, ...rootArg, '--message', 'acceptOwnership', '--out', accept]);
        await multisigSign.run(as(stranger).provider, ['--order', accept, '--key', keyFiles[0]]);
        const sent = await multisigSend.run(as(stranger).provider, ['--order', accept, '--key', keyFiles[1]]);
        expect(sent).toMatchObject({ ok: true, executed: true });
        expect((await root.getOwner()).equals(deployed.address)).toBe(true);
    });

    it('multisigKey writes a private key file and prints its public key; multisigDeploy does nothing twice', async () => {
        expect(statSync(keyFiles[0]).mode & 0o077).toBe(0);
        expect(readFileSync(keyFiles[0], 'utf8').trim().split(' ').length).toBe(24);
        const shown = await multisigKey.run(as(stranger).provider, ['--key', keyFiles[0]]);
        expect(shown.publicKey).toBe(publicKeys[0]);
        await expect(multisigKey.run(as(stranger).provider, ['--out', keyFiles[0]])).rejects.toThrow(/exists already/);
        const again = as(governance);
        await multisigDeploy.run(again.provider, ['--owners', publicKeys.join(','), '--k', '2', '--yes']);
        expect(again.output).toContain('This multisig is already deployed: nothing to do.');
        await expect(multisigDeploy.run(as(governance).provider, ['--owners', publicKeys.join(','), '--k', '4'])).rejects.toThrow(
            '--k must be a whole number from 1 to 3',
        );
    });

    // An order of the multisig to add `newVerifier`, written to `file`.
    const addVerifierOrder = (file: string) =>
        multisigOrder.run(as(stranger).provider, [
            ...multisigArg,
            ...rootArg,
            '--message',
            'addVerifier',
            '--key',
            newVerifier,
            '--out',
            file,
        ]);

    it('an AddVerifier order: one owner alone is recorded and waits, a second one executes it, Root proposes the change', async () => {
        const order = join(dir, 'add.json');
        const made = await addVerifierOrder(order);
        expect(made.order.description).toBe(`add verifier ${newVerifier} (timelocked)`);

        const alone = as(stranger);
        const first = await multisigSend.run(alone.provider, ['--order', order, '--key', keyFiles[0]]);
        expect(first).toMatchObject({ ok: true, executed: false, signers: [0] });
        expect(alone.output.join('\n')).toContain('The multisig recorded the order, signed by owner(s) 0: 1 of 2.');
        expect((await root.getPendingChanges()).size).toBe(0);
        await expect(multisigSend.run(as(stranger).provider, ['--order', order, '--key', keyFiles[0]])).rejects.toThrow(
            'owner 0 signed this order on-chain already: another owner must send it',
        );

        const second = as(stranger);
        const done = await multisigSend.run(second.provider, ['--order', order, '--key', keyFiles[2]]);
        expect(done).toMatchObject({ ok: true, executed: true, applied: false, proposed: { id: 0 } });
        expect(second.output).toContain('Waiting for the multisig to process the order…');
        expect(second.output).toContain(`Waiting for ${root.address.toString()} to process AddVerifier…`);
        expect(second.output.join('\n')).toContain(`AddVerifier: proposed as change #0 (add verifier ${newVerifier})`);
        expect(await root.getIsVerifier(BigInt('0x' + newVerifier))).toBe(false);
        await expect(multisigSend.run(as(stranger).provider, ['--order', order, '--key', keyFiles[1]])).rejects.toThrow(
            'this order was executed already',
        );

        blockchain.now = (done as { proposed: { executeAt: number } }).proposed.executeAt;
        expect((await executeChange.run(as(stranger).provider, [...rootArg, '--id', '0'])).ok).toBe(true);
        expect(await root.getIsVerifier(BigInt('0x' + newVerifier))).toBe(true);
    });

    it('multisigSend says the wait failed, even with --quiet, when the order never reaches the multisig', async () => {
        const order = join(dir, 'lost.json');
        await addVerifierOrder(order);
        const run = as(stranger);
        const dropping = {
            ...run.provider,
            provider: (a: Address, init?: StateInit) => ({
                ...runningProvider(blockchain, a, init, seen),
                external: async () => undefined,
            }),
        } as unknown as NetworkProvider;
        jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
        try {
            const sent = multisigSend.run(dropping, ['--order', order, '--key', keyFiles[0], '--quiet']);
            await expect(onFakeClock(sent)).rejects.toThrow('no new transaction at the multisig after 60 s');
        } finally {
            jest.useRealTimers();
        }
        expect(run.output.filter((l) => l.startsWith('Waiting'))).toEqual(['Waiting for the multisig to process the order: failed (60 s)']);
    });

    it('a SetParams order signed offline by two owners; a Root refusal is reported by name', async () => {
        const order = join(dir, 'params.json');
        const raised = join(dir, 'raised.json');
        writeFileSync(raised, JSON.stringify({ ...require(PARAMS_FILE), revocationSlashBps: Number(MAX_REVOCATION_SLASH_BPS) }));
        await multisigOrder.run(as(stranger).provider, [
            ...multisigArg,
            ...rootArg,
            '--message',
            'setParams',
            '--params',
            raised,
            '--out',
            order,
        ]);
        const signing = as(stranger);
        await multisigSign.run(signing.provider, ['--order', order, '--key', keyFiles[1]]);
        expect(signing.output).toContain('Signed by owner(s) 1: 1 of the 2 needed');
        const sent = await multisigSend.run(as(stranger).provider, ['--order', order, '--key', keyFiles[2]]);
        expect(sent).toMatchObject({ ok: true, executed: true, proposed: { id: 0 } });
        expect((await root.getPendingChanges()).get(0)!.change.kind).toBe(1n);

        // a cancellation of a change that does not exist: Root refuses, the script names why
        const cancel = join(dir, 'cancel.json');
        await multisigOrder.run(as(stranger).provider, [
            ...multisigArg,
            ...rootArg,
            '--message',
            'cancelChange',
            '--id',
            '0',
            '--out',
            cancel,
        ]);
        await multisigSign.run(as(stranger).provider, ['--order', cancel, '--key', keyFiles[0]]);
        await cancelChangeDirectly(); // the change goes away before the order runs
        const refused = as(stranger);
        const r = await multisigSend.run(refused.provider, ['--order', cancel, '--key', keyFiles[1]]);
        expect(r).toMatchObject({ ok: false, executed: true });
        expect(refused.output).toContain('CancelChange failed at ' + root.address.toString() + ': ERR_CHANGE_UNKNOWN (exit code 1211)');

        async function cancelChangeDirectly() {
            const other = join(dir, 'cancel-first.json');
            await multisigOrder.run(as(stranger).provider, [
                ...multisigArg,
                ...rootArg,
                '--message',
                'cancelChange',
                '--id',
                '0',
                '--out',
                other,
            ]);
            await multisigSign.run(as(stranger).provider, ['--order', other, '--key', keyFiles[2]]);
            expect((await multisigSend.run(as(stranger).provider, ['--order', other, '--key', keyFiles[0]])).ok).toBe(true);
            expect((await root.getPendingChanges()).size).toBe(0);
        }
    });

    it('refuses what cannot work before sending: an outsider key, a tampered file, an expired order, a bad message', async () => {
        const order = join(dir, 'threshold.json');
        await multisigOrder.run(as(stranger).provider, [
            ...multisigArg,
            ...rootArg,
            '--message',
            'setThreshold',
            '--threshold',
            '1',
            '--out',
            order,
        ]);
        const outsider = join(dir, 'outsider.key');
        writeFileSync(outsider, hex(Buffer.alloc(32, 7)));
        await expect(multisigSign.run(as(stranger).provider, ['--order', order, '--key', outsider])).rejects.toThrow(
            /is not an owner of multisig/,
        );
        const mixed = join(dir, 'mixed.key'); // a seed, then the public key of another seed
        writeFileSync(mixed, hex(Buffer.alloc(32, 7)) + hex(ed25519FromSeed(Buffer.alloc(32, 8)).publicKey));
        await expect(multisigSign.run(as(stranger).provider, ['--order', order, '--key', mixed])).rejects.toThrow(
            new InputError(`--key ${mixed}: the secret key does not hold the public key of its seed`),
        );

        await multisigSign.run(as(stranger).provider, ['--order', order, '--key', keyFiles[0]]);
        const file = JSON.parse(readFileSync(order, 'utf8'));
        writeFileSync(order, JSON.stringify({ ...file, signatures: { 0: file.signatures[0].replace(/^../, '00') } }));
        await expect(multisigSign.run(as(stranger).provider, ['--order', order, '--key', keyFiles[1]])).rejects.toThrow(
            'the signature of owner 0 does not verify',
        );
        writeFileSync(order, JSON.stringify(file));
        blockchain.now = Math.floor(Date.now() / 1000) + 2 * 86_400;
        jest.spyOn(Date, 'now').mockReturnValue(blockchain.now * 1000);
        try {
            await expect(multisigSend.run(as(stranger).provider, ['--order', order, '--key', keyFiles[1]])).rejects.toThrow(
                `this order expired at ${file.expiresAt}: make a new one`,
            );
        } finally {
            jest.restoreAllMocks();
        }
        await expect(
            multisigOrder.run(as(stranger).provider, [
                ...multisigArg,
                ...rootArg,
                '--message',
                'stealTreasury',
                '--out',
                join(dir, 'x.json'),
            ]),
        ).rejects.toThrow(/--message stealTreasury: one of setParams/);
        await expect(
            multisigOrder.run(as(stranger).provider, [...multisigArg, ...rootArg, '--message', 'acceptOwnership', '--out', order]),
        ).rejects.toThrow(/exists already/);
    });
});
