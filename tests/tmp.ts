// Temporary directories for tests, removed after the test file that made them (jest runs each
// file in a worker process whose 'exit' handlers do not run, hence afterAll).
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

const made: string[] = [];
afterAll(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), `cocoon-${prefix}-`));
    made.push(dir);
    return dir;
}
