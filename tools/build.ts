// `npm run build`: compiles every contract of wrappers/*.compile.ts with Blueprint, as
// `npx blueprint build --all` does, without printing each code cell in hex.
//
// It also corrects a Blueprint quirk: for a Tact project holding several contracts (root.tact
// embeds Provider for initOf), Blueprint writes the first code cell the compiler produced into
// build/<Name>.compiled.json, which for Root is Provider's. The artifact is rewritten with the
// code of the contract it is named after (tests/build.spec.ts checks it).
import { buildAll } from '@ton/blueprint';
import { Cell } from '@ton/core';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'fs';
import { join } from 'path';

const BUILD = join(__dirname, '..', 'build');

function fixArtifact(name: string) {
    const boc = join(BUILD, name, `tact_${name}.code.boc`);
    const artifact = join(BUILD, `${name}.compiled.json`);
    if (!existsSync(boc) || !existsSync(artifact)) return;
    const code = Cell.fromBoc(readFileSync(boc))[0];
    const hash = code.hash();
    writeFileSync(
        artifact,
        JSON.stringify({ hash: hash.toString('hex'), hashBase64: hash.toString('base64'), hex: code.toBoc().toString('hex') }),
    );
}

buildAll()
    .then(() => {
        for (const file of readdirSync(join(__dirname, '..', 'wrappers'))) {
            if (file.endsWith('.compile.ts')) fixArtifact(file.replace('.compile.ts', ''));
        }
        console.log('contracts built into build/');
    })
    .catch((e) => {
        console.error(e instanceof Error ? e.message : e);
        process.exit(1);
    });
