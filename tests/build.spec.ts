// The build artifacts that Blueprint's compile() and deploy tooling read must hold the code of
// the contract they are named after (see tools/build.ts).
import { readFileSync } from 'fs';
import { join } from 'path';
import { Address, Cell } from '@ton/core';
import { GLOBAL_ID_MAINNET, providerForOwner, rootForDeployment, sessionFor } from '../wrappers';
import { TEST_PARAMS } from './helpers';

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
