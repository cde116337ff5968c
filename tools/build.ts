// `npm run build`: compiles the contracts with Blueprint, in the one order that works.
//
// A Provider must recognise its Sessions and a Session must derive its Provider, so neither can
// embed the other's code (a cell cannot contain itself). Instead (contracts/addresses.tact):
//   1. Provider is compiled first: it learns the Session code hash from its initial data;
//   2. its code hash and depth are written to contracts/generated/provider_code.tact, which the
//      Session imports to derive its Provider's address;
//   3. Session is compiled, and its code hash and depth written to
//      contracts/generated/session_code.tact;
//   4. Root is compiled with both, to recognise Providers and to give them the Session code hash.
// The generated files are committed so that a reader (and `git diff`) sees the code hashes a
// version deploys; the build rewrites them and tests/build.spec.ts checks that they match.
import { buildOne } from '@ton/blueprint';
import { Cell } from '@ton/core';
import { readFileSync, writeFileSync } from 'fs';
import { join } from 'path';

const ROOT_DIR = join(__dirname, '..');

function compiledCode(name: string): Cell {
    const json = JSON.parse(readFileSync(join(ROOT_DIR, 'build', `${name}.compiled.json`), 'utf8'));
    return Cell.fromBoc(Buffer.from(json.hex, 'hex'))[0];
}

// The Tact source of contracts/generated/<file>.tact for the compiled code of `name`.
export function codeConstants(name: string, code: Cell): string {
    const prefix = name.toUpperCase();
    return [
        `// Written by \`npm run build\` (tools/build.ts) from the compiled ${name} contract: do not edit.`,
        `// See contracts/addresses.tact for why the code hash is a constant rather than \`initOf\`.`,
        `const ${prefix}_CODE_HASH: Int = 0x${code.hash().toString('hex')};`,
        `const ${prefix}_CODE_DEPTH: Int = ${code.depth()};`,
        '',
    ].join('\n');
}

function writeConstants(name: string) {
    const file = join(ROOT_DIR, 'contracts', 'generated', `${name.toLowerCase()}_code.tact`);
    const text = codeConstants(name, compiledCode(name));
    let current = '';
    try {
        current = readFileSync(file, 'utf8');
    } catch {
        // first build
    }
    if (current !== text) writeFileSync(file, text);
}

async function main() {
    await buildOne('Provider');
    writeConstants('Provider');
    await buildOne('Session');
    writeConstants('Session');
    await buildOne('Root');
    console.log('contracts built into build/');
}

if (require.main === module) {
    main().catch((e) => {
        console.error(e instanceof Error ? e.message : e);
        process.exit(1);
    });
}
