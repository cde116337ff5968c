// The build artifacts that Blueprint's compile() and deploy tooling read must hold the code of
// the contract they are named after (see tools/build.ts).
import { execSync } from 'child_process';
import { readFileSync } from 'fs';
import { join } from 'path';
import { Address, Cell } from '@ton/core';
import { GLOBAL_ID_MAINNET, providerForOwner, rootForDeployment, sessionFor } from '../wrappers';
import { TEST_PARAMS } from '../testkit';
import { codeConstants } from '../tools/build';

function artifactCode(name: string): Cell {
    const json = JSON.parse(readFileSync(join(__dirname, '..', 'build', `${name}.compiled.json`), 'utf8'));
    return Cell.fromBoc(Buffer.from(json.hex, 'hex'))[0];
}

it('build/<Name>.compiled.json holds the code of <Name> for Root, Provider and Session', async () => {
    const owner = new Address(0, Buffer.alloc(32, 1));
    const root = await rootForDeployment({ owner, globalId: GLOBAL_ID_MAINNET, params: TEST_PARAMS });
    const provider = await providerForOwner(root.address, owner);
    expect(artifactCode('Root').hash().equals(root.init!.code.hash())).toBe(true);
    expect(artifactCode('Provider').hash().equals(provider.init!.code.hash())).toBe(true);
    const session = await sessionFor(root.address, owner, owner, 1n);
    expect(artifactCode('Session').hash().equals(session.init!.code.hash())).toBe(true);
});

it('contracts/generated holds the code hashes of this build (commit it after a contract change)', () => {
    for (const name of ['Provider', 'Session']) {
        const file = readFileSync(join(__dirname, '..', 'contracts', 'generated', `${name.toLowerCase()}_code.tact`), 'utf8');
        expect(file).toBe(codeConstants(name, artifactCode(name)));
    }
    // the committed files are what the build wrote (a clean clone rebuilds them before the tests)
    let committed = true;
    try {
        execSync('git diff --quiet -- contracts/generated', { cwd: join(__dirname, '..'), stdio: 'ignore' });
    } catch (e) {
        committed = (e as { status?: number }).status !== 1; // 1: differences; anything else: no git here
    }
    expect(committed).toBe(true);
});
