// `npm run lint`: Tact sources keep lines of at most 140 characters (tact-fmt does not wrap them).
import { readFileSync, readdirSync } from 'fs';
import { join } from 'path';

const MAX = 140;
const dir = join(__dirname, '..', 'contracts');
const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.tact'));
const long = files.flatMap((f) =>
    readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .map((line, i) => ({ where: `contracts/${f}:${i + 1}`, length: line.length }))
        .filter((l) => l.length > MAX),
);
for (const l of long) console.error(`${l.where}: ${l.length} characters (at most ${MAX})`);
process.exitCode = long.length ? 1 : 0;
