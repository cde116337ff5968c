// The dashboard page: asks api/snapshot every few seconds and draws what it says. Everything a
// provider wrote (GPU names, endpoints, model names) is put in as text, never as HTML.
'use strict';

(function () {
    const NANO = 1_000_000_000n;
    let lastAnswer = null; // the last answer that carried a snapshot
    let serverDownSince = null; // when the dashboard server itself stopped answering
    let refreshMs = 5000;

    const $ = (id) => document.getElementById(id);

    // An element with attributes and children (strings become text nodes).
    function el(tag, attrs, ...children) {
        const e = document.createElement(tag);
        for (const [k, v] of Object.entries(attrs || {})) {
            if (v === undefined || v === null || v === false) continue;
            if (k === 'class') e.className = v;
            else e.setAttribute(k, String(v));
        }
        for (const c of children.flat()) {
            if (c === undefined || c === null || c === false) continue;
            e.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
        }
        return e;
    }

    function svg(tag, attrs, ...children) {
        const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
        for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
        for (const c of children) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
        return e;
    }

    // nanotons (a decimal string) as TON, at most 4 decimals
    function ton(nano) {
        let n = BigInt(nano);
        const negative = n < 0n;
        if (negative) n = -n;
        const whole = (n / NANO).toLocaleString('en-US');
        const fraction = (n % NANO).toString().padStart(9, '0').slice(0, 4).replace(/0+$/, '');
        if (n > 0n && whole === '0' && !fraction) return '<0.0001 TON';
        return `${negative ? '-' : ''}${whole}${fraction ? '.' + fraction : ''} TON`;
    }

    const pad = (n) => String(n).padStart(2, '0');
    const clock = (ms) => {
        const d = new Date(ms);
        return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    };
    const clockSeconds = (ms) => `${clock(ms)}:${pad(new Date(ms).getSeconds())}`;
    const dateTime = (unix) => {
        const d = new Date(unix * 1000);
        return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(unix * 1000)}`;
    };
    function relative(unix) {
        const s = unix - Date.now() / 1000;
        const abs = Math.abs(s);
        const text =
            abs < 90
                ? `${Math.round(abs)} s`
                : abs < 5400
                  ? `${Math.round(abs / 60)} min`
                  : abs < 172800
                    ? `${Math.round(abs / 3600)} h`
                    : `${Math.round(abs / 86400)} d`;
        return s >= 0 ? `in ${text}` : `${text} ago`;
    }
    const short = (hex) => `${hex.slice(0, 10)}…${hex.slice(-6)}`;
    const shortAddress = (a) => `${a.slice(0, 6)}…${a.slice(-6)}`;
    const plural = (n, word, many = word + 's') => `${n} ${n === 1 ? word : many}`;

    function card(label, value, sub, id) {
        return el(
            'div',
            { class: 'card', id },
            el('div', { class: 'label' }, label),
            el('div', { class: 'value' }, value),
            sub ? el('div', { class: 'sub' }, sub) : null,
        );
    }

    function drawSummary(s) {
        const active = s.providers.filter((p) => p.status === 'active').length;
        const buckets = s.activity.buckets;
        const sessions = buckets.reduce((n, b) => n + b.sessions, 0);
        const fees = buckets.reduce((n, b) => n + BigInt(b.fees), 0n);
        $('summary').replaceChildren(
            card('Providers', `${active} active`, `${s.root.providerCount} registered`, 'card-providers'),
            card(
                'Verifiers',
                `${s.root.verifiers.threshold} of ${s.root.verifiers.count}`,
                `signatures needed · epoch ${s.root.verifiers.epoch}`,
                'card-verifiers',
            ),
            card('Treasury', ton(s.root.treasury), 'protocol fees and slashes kept by Root', 'card-treasury'),
            card('Sessions, 24 h', String(sessions), 'opened (accepted by a provider)', 'card-sessions'),
            card('Fees, 24 h', ton(fees.toString()), 'deposited to the treasury', 'card-fees'),
        );
    }

    function drawChart(activity) {
        const box = $('chart');
        const width = Math.max(280, Math.floor(box.clientWidth || 600));
        const height = 200;
        const m = { left: 34, right: 52, top: 12, bottom: 24 };
        const w = width - m.left - m.right;
        const h = height - m.top - m.bottom;
        const buckets = activity.buckets;
        const maxSessions = Math.max(1, ...buckets.map((b) => b.sessions));
        const feesTon = buckets.map((b) => Number(BigInt(b.fees)) / 1e9);
        const maxFees = Math.max(...feesTon) || 1;
        const step = w / buckets.length;
        const x = (i) => m.left + step * (i + 0.5);
        const yS = (v) => m.top + h - (v / maxSessions) * h;
        const yF = (v) => m.top + h - (v / maxFees) * h;
        const chart = svg('svg', {
            viewBox: `0 0 ${width} ${height}`,
            width,
            height,
            role: 'img',
            'aria-label': 'sessions opened and protocol fees per hour',
        });
        chart.append(svg('line', { class: 'axis', x1: m.left, y1: m.top + h, x2: m.left + w, y2: m.top + h }));
        chart.append(svg('text', { x: m.left - 6, y: m.top + 8, 'text-anchor': 'end' }, String(maxSessions)));
        chart.append(svg('text', { x: m.left - 6, y: m.top + h, 'text-anchor': 'end' }, '0'));
        chart.append(
            svg(
                'text',
                { x: m.left + w + 6, y: m.top + 8 },
                maxFees === 1 && !feesTon.some((f) => f > 0) ? '1' : String(+maxFees.toPrecision(3)),
            ),
        );
        chart.append(svg('text', { x: m.left + w + 6, y: m.top + h }, '0 TON'));
        buckets.forEach((b, i) => {
            const label =
                `${clock(b.start * 1000)}: ${plural(b.sessions, 'session')} opened, ${ton(b.fees)} in fees` +
                (BigInt(b.slashed) > 0n ? `, ${ton(b.slashed)} slashed` : '');
            const top = yS(b.sessions);
            chart.append(
                svg(
                    'rect',
                    {
                        class: 'bar',
                        x: x(i) - step * 0.35,
                        y: top,
                        width: step * 0.7,
                        height: m.top + h - top,
                        'data-sessions': b.sessions,
                    },
                    svg('title', {}, label),
                ),
            );
            if (i % 6 === 0) chart.append(svg('text', { x: x(i), y: height - 6, 'text-anchor': 'middle' }, clock(b.start * 1000)));
        });
        chart.append(
            svg('polyline', { class: 'fees-line', points: feesTon.map((f, i) => `${x(i).toFixed(1)},${yF(f).toFixed(1)}`).join(' ') }),
        );
        buckets.forEach((b, i) =>
            chart.append(
                svg(
                    'circle',
                    { class: 'point', cx: x(i), cy: yF(feesTon[i]), r: 3, 'data-fees': b.fees },
                    svg('title', {}, `${clock(b.start * 1000)}: ${ton(b.fees)} in fees`),
                ),
            ),
        );
        box.replaceChildren(chart);
        $('chart-note').textContent =
            `Hour by hour from ${clock(activity.hourStart * 1000)}: bars count the sessions Providers accepted, the line the protocol fees Root took into its treasury (sessions pay their fee when finalized). ` +
            `From the newest ${activity.transactionsRead} transactions of Root and the Providers` +
            (activity.complete ? '.' : '; some accounts had more in this window, so their older hours show less than happened.');
    }

    function attestationText(a) {
        if (!a) return el('span', { class: 'expired' }, 'none');
        if (a.revoked) return el('span', { class: 'expired' }, 'revoked');
        if (a.invalidatedAt) return el('span', { class: 'expired' }, `invalidated ${dateTime(a.invalidatedAt)} (jail)`);
        const expired = a.validUntil <= Date.now() / 1000;
        return el(
            'span',
            { class: expired ? 'expired' : '' },
            `${expired ? 'expired' : 'valid until'} ${dateTime(a.validUntil)} (${relative(a.validUntil)}) · TCB ${a.tcbStatus}`,
        );
    }

    function drawProviders(s) {
        if (s.providers.length === 0)
            return $('providers').replaceChildren(el('p', { class: 'empty' }, 'No provider has registered under this Root yet.'));
        const cards = s.providers.map((p) => {
            const r = p.record;
            const l = p.listing;
            return el(
                'article',
                { class: 'provider', 'data-address': p.address },
                el('h3', {}, el('span', { class: `pill ${p.status}` }, p.status), el('code', { class: 'addr' }, p.address)),
                el(
                    'dl',
                    {},
                    el('dt', {}, 'Owner'),
                    el('dd', {}, el('code', {}, p.owner)),
                    el('dt', {}, 'Stake'),
                    el('dd', { class: 'stake' }, ton(p.stake)),
                    el('dt', {}, 'Locked collateral'),
                    el('dd', { class: 'locked' }, ton(p.locked)),
                    el('dt', {}, 'Free stake'),
                    el('dd', {}, ton(p.freeStake)),
                    el('dt', {}, 'Attestation'),
                    el('dd', { class: 'attestation' }, attestationText(p.attestation)),
                    p.jailedUntil > Date.now() / 1000
                        ? [el('dt', {}, 'Jailed until'), el('dd', { class: 'expired' }, dateTime(p.jailedUntil))]
                        : null,
                    el('dt', {}, 'GPUs'),
                    el('dd', { class: 'gpus' }, l ? `${l.gpuCount} × ${l.gpuModel} (${l.vramGb} GB each)` : 'no listing'),
                    l ? [el('dt', {}, 'Endpoint'), el('dd', {}, el('code', {}, l.endpoint))] : null,
                    el('dt', {}, 'Record'),
                    el(
                        'dd',
                        { class: 'record' },
                        `${plural(r.sessionsServed, 'session')} served · ${ton(r.settled)} settled · ${plural(r.slashCount, 'slash', 'slashes')}` +
                            (r.slashCount ? ` (${ton(r.slashed)})` : '') +
                            ` · ${plural(r.timeoutCount, 'timeout')} · ${plural(r.jailCount, 'jail')}`,
                    ),
                ),
                l
                    ? el(
                          'ul',
                          { class: 'models' },
                          l.models.map((m) =>
                              el(
                                  'li',
                                  {},
                                  el('strong', {}, m.name),
                                  `: ${ton(m.prices.prompt)} prompt · ${ton(m.prices.cachedPrompt)} cached · ${ton(m.prices.completion)} completion · ${ton(m.prices.reasoning)} reasoning, per 1M tokens`,
                              ),
                          ),
                      )
                    : null,
            );
        });
        if (s.providersNotShown > 0)
            cards.push(el('p', { class: 'note' }, `${s.providersNotShown} more registered providers are not shown.`));
        $('providers').replaceChildren(...cards);
    }

    function drawRoot(s) {
        const v = s.root.verifiers;
        $('verifier-summary').textContent =
            `${plural(v.count, 'verifier')}; an attestation needs ${v.threshold} of their signatures (threshold ${v.threshold}, epoch ${v.epoch}).`;
        $('verifier-keys').replaceChildren(...v.keys.map((k) => el('li', {}, el('code', { title: k }, k))));
        $('measurements').replaceChildren(
            ...(s.root.measurements.length
                ? s.root.measurements.map((m) => el('li', {}, el('code', {}, m)))
                : [el('li', { class: 'empty' }, 'none: no enclave can be attested')]),
        );
        $('pending').replaceChildren(
            ...(s.root.pendingChanges.length
                ? s.root.pendingChanges.map((c) =>
                      el(
                          'li',
                          {},
                          `#${c.id} ${c.kind} `,
                          el('code', {}, c.value.length > 24 ? short(c.value) : c.value),
                          `: executable from ${dateTime(c.executeAt)} (${relative(c.executeAt)})`,
                      ),
                  )
                : [el('li', { class: 'empty' }, 'none')]),
        );
        $('params').replaceChildren(
            ...Object.entries(s.root.params).flatMap(([k, value]) => [
                el('dt', {}, k),
                el('dd', {}, /Stake|Budget/.test(k) ? ton(value) : value),
            ]),
        );
    }

    function drawSessions(s) {
        const table = $('sessions');
        if (s.sessions.length === 0)
            return table.replaceChildren(
                el('tbody', {}, el('tr', {}, el('td', { class: 'empty' }, 'No session in the transactions read.'))),
            );
        table.replaceChildren(
            el(
                'thead',
                {},
                el(
                    'tr',
                    {},
                    ['Session', 'Provider', 'Status', 'Budget', 'Claimed', 'Opened'].map((h) => el('th', {}, h)),
                ),
            ),
            el(
                'tbody',
                {},
                s.sessions.map((x) =>
                    el(
                        'tr',
                        {},
                        el('td', {}, el('code', { title: x.address }, shortAddress(x.address))),
                        el('td', {}, el('code', { title: x.provider }, shortAddress(x.provider))),
                        el('td', {}, x.status),
                        el('td', {}, ton(x.budget)),
                        el('td', {}, ton(x.claimed)),
                        el('td', {}, dateTime(x.openedAt)),
                    ),
                ),
            ),
        );
    }

    function draw(answer) {
        const s = answer.snapshot;
        $('where').replaceChildren(
            'Root ',
            el('code', {}, s.root.address),
            ` on ${s.network}, read through ${answer.endpoints.join(', ')}`,
        );
        drawSummary(s);
        drawChart(s.activity);
        drawProviders(s);
        drawRoot(s);
        drawSessions(s);
        $('footer').textContent = `Snapshot taken ${clockSeconds(s.takenAt)}; the page asks again every ${Math.round(refreshMs / 1000)} s.`;
    }

    function showState(answer) {
        const banner = $('banner');
        const dataFrom = lastAnswer ? `Showing data from ${clockSeconds(lastAnswer.snapshot.takenAt)}.` : 'No data has been read yet.';
        let problem = null;
        if (serverDownSince) problem = [`The dashboard server does not answer since ${clock(serverDownSince)}.`, ''];
        else if (answer && answer.status === 'unreachable')
            problem = [`Endpoint unreachable since ${clock(answer.error.since)} (${answer.endpoints.join(', ')}).`, answer.error.message];
        else if (answer && answer.status === 'error')
            problem = [`Reading the network fails since ${clock(answer.error.since)}.`, answer.error.message];
        document.body.classList.toggle('stale', !!problem);
        const status = $('status');
        if (problem) {
            banner.replaceChildren(
                el('strong', {}, problem[0]),
                ' ',
                dataFrom,
                problem[1] ? el('span', { class: 'detail' }, problem[1]) : null,
            );
            banner.hidden = false;
            status.className = 'status stale';
            status.textContent = lastAnswer ? `stale: last snapshot ${clockSeconds(lastAnswer.snapshot.takenAt)}` : 'no data';
        } else {
            banner.hidden = true;
            status.className = 'status live';
            status.textContent = `live · updated ${clockSeconds(lastAnswer.snapshot.takenAt)}`;
        }
    }

    async function refresh() {
        let answer = null;
        try {
            const res = await fetch('api/snapshot', { cache: 'no-store' });
            answer = await res.json();
            serverDownSince = null;
            if (answer.refreshMs) refreshMs = answer.refreshMs;
            if (answer.snapshot && (!lastAnswer || answer.snapshot.takenAt !== lastAnswer.snapshot.takenAt)) {
                lastAnswer = answer;
                draw(answer);
            }
        } catch {
            serverDownSince = serverDownSince || Date.now();
        }
        showState(answer);
        setTimeout(refresh, refreshMs);
    }

    window.addEventListener('resize', () => lastAnswer && drawChart(lastAnswer.snapshot.activity));
    refresh();
})();
