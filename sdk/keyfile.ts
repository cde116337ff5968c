// A client's session key on disk: created once (mode 0600) and read back to resume the session
// later. The private half never leaves the file or this process's memory.
import { existsSync, readFileSync, writeFileSync } from 'fs';
import { SessionKey, generateEncryptionKeyPair } from '../protocol/encryption';

/**
 * The session key kept in the JSON file at `path` (publicKey and privateKey in hex), or a new one written there with mode
 * 0600 when there is no file; `created` says which. Throws when the file is not a session key file.
 */
export async function loadOrCreateSessionKey(path: string): Promise<{ key: SessionKey; created: boolean }> {
    if (existsSync(path)) {
        let parsed: { publicKey?: string; privateKey?: string };
        try {
            parsed = JSON.parse(readFileSync(path, 'utf8'));
        } catch (e) {
            throw new Error(`${path} is not a session key file (JSON with publicKey and privateKey in hex): ${(e as Error).message}`);
        }
        const publicKey = Buffer.from(parsed.publicKey ?? '', 'hex');
        const privateKey = Buffer.from(parsed.privateKey ?? '', 'hex');
        if (publicKey.length !== 32 || privateKey.length !== 32) {
            throw new Error(`${path} must hold publicKey and privateKey as 32 bytes of hex each`);
        }
        return { key: { publicKey, privateKey }, created: false };
    }
    const key = await generateEncryptionKeyPair();
    writeFileSync(path, JSON.stringify({ publicKey: key.publicKey.toString('hex'), privateKey: key.privateKey.toString('hex') }) + '\n', {
        mode: 0o600,
        flag: 'wx',
    });
    return { key, created: true };
}
