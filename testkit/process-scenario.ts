// What the process network (process-network.ts) is put through, in one place for its test and
// `npm run demo -- --processes`: a client of the gateway sends requests; a verifier and the worker
// are killed with kill -9 while requests are in flight and started again; the gateway's stop
// closes the session, the worker claims it, and the gateway started again after the claim window
// finalizes it. Returns what happened; the caller checks it (the test) or shows it (the demo).
import { readFileSync } from 'fs';
import { join } from 'path';
import { Address } from '@ton/core';
import { waitFor } from '../protocol/chain';
import { SessionState, readProvider, readSession } from '../protocol/state';
import { EXAMPLE_PARAMS, SESSION_CLOSING, SESSION_FINALIZED } from '../wrappers';
import { DEMO_MODEL } from './local-network';
import { DevnetLedger, ProcessNetwork } from './process-network';

export interface Answer {
    content: string; // what was asked
    answer: string; // what came back
    statuses: number[]; // the HTTP status of each try (502 then 200: retried under its key)
}

export interface ProcessScenarioOutcome {
    attestedKey: bigint | undefined; // the enclave key the verifiers attested before the crash...
    attestedKeyAfter: bigint | undefined; // ...and after it (sealed keys: the same)
    sessionsBefore: Address[]; // the gateway's sessions before the crash...
    sessionsAfter: Address[]; // ...and after it (the same one)
    before: Answer;
    during: Answer[]; // in flight when the worker died
    after: Answer;
    workerStarts: number;
    closing?: SessionState; // the session closed, with what the worker claimed
    finalized: boolean;
    ledgerAtStart: DevnetLedger;
    ledgerAtEnd: DevnetLedger;
}

interface Completion {
    choices?: { message: { content: string } }[];
}

export async function runProcessScenario(net: ProcessNetwork, say: (text: string) => void = () => {}): Promise<ProcessScenarioOutcome> {
    const { chain, provider } = net;
    const chat = async (content: string, idempotencyKey: string) => {
        const res = await fetch(`${net.gatewayUrl}/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
            body: JSON.stringify({ model: DEMO_MODEL, messages: [{ role: 'user', content }], max_tokens: 64 }),
        });
        return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Completion };
    };
    // A careful client: an Idempotency-Key on every request, the same key again after an answer
    // that may have been lost (502 outcome_unknown), after Retry-After when no provider answers (503).
    const ask = async (content: string, key: string): Promise<Answer> => {
        const statuses: number[] = [];
        for (const until = Date.now() + 90_000; Date.now() < until;) {
            const r = await chat(content, key);
            statuses.push(r.status);
            if (r.status === 200) return { content, answer: r.body.choices?.[0]?.message.content ?? '', statuses };
            if (r.status !== 502 && r.status !== 503) throw new Error(`"${content}": ${r.status} ${JSON.stringify(r.body)}`);
            await new Promise((resolve) => setTimeout(resolve, 1000 * Number(r.retryAfter ?? 1)));
        }
        throw new Error(`"${content}": no answer in 90 s (statuses ${statuses.join(', ')})`);
    };
    const sessionsOfGateway = (): Address[] =>
        (JSON.parse(readFileSync(join(net.dir, 'gateway.sessions.json'), 'utf8')) as { sessions: string[] }).sessions.map((a) =>
            Address.parse(a),
        );
    const signingKey = async () => (await readProvider(chain, provider))?.attestation?.signingKey;

    const ledgerAtStart = await net.ledger();
    const attestedKey = await signingKey();
    say('a request through the gateway: its wallet opens a session with the provider, the worker answers');
    const before = await ask('before the crash', 'before');
    const sessionsBefore = sessionsOfGateway();

    say('four requests in flight; kill -9 of verifier 1 and of the worker; both started again');
    const burst = Promise.all([0, 1, 2, 3].map((i) => ask(`during the crash ${i}`, `crash-${i}`)));
    await new Promise((r) => setTimeout(r, 150));
    await net.verifiers[0].crash();
    await net.worker.crash();
    await net.verifiers[0].start();
    await net.worker.start();
    const during = await burst;
    const after = await ask('after the restart', 'after');
    const sessionsAfter = sessionsOfGateway();
    const attestedKeyAfter = await signingKey();

    say('the gateway stops: it closes its session; the worker claims what it served');
    await net.gateway.stop();
    const [session] = sessionsAfter;
    const closing = await waitFor(
        async () => {
            const s = await readSession(chain, session);
            return s && s.status === Number(SESSION_CLOSING) && s.claimed > 0n ? s : undefined;
        },
        90_000,
        500,
    );

    say('the devnet moves past the claim window; the gateway, started again, finalizes the session it left');
    await net.advance(Number(EXAMPLE_PARAMS.closeGracePeriod) + 60);
    await net.gateway.start();
    const finalized = await waitFor(
        async () => {
            const s = await readSession(chain, session);
            return s === null || s.status === Number(SESSION_FINALIZED) ? true : undefined;
        },
        90_000,
        500,
    );
    return {
        attestedKey,
        attestedKeyAfter,
        sessionsBefore,
        sessionsAfter,
        before,
        during,
        after,
        workerStarts: net.worker.starts,
        closing,
        finalized: finalized === true,
        ledgerAtStart,
        ledgerAtEnd: await net.ledger(),
    };
}

/** An account's balance in a devnet ledger (0 for one that does not exist). */
export function balanceIn(ledger: DevnetLedger, address: Address): bigint {
    return ledger.accounts.find((a) => Address.parse(a.address).equals(address))?.balance ?? 0n;
}
