// `npm run build`: compiles every contract of wrappers/*.compile.ts with Blueprint, as
// `npx blueprint build --all` does, without printing each code cell in hex.
import { buildAll } from '@ton/blueprint';

buildAll()
    .then(() => console.log('contracts built into build/'))
    .catch((e) => {
        console.error(e instanceof Error ? e.message : e);
        process.exit(1);
    });
