// synchub dashboard: plain JavaScript over the JSON API (/api/…). The operator's token lives in this tab's
// sessionStorage and goes out as "Authorization: Bearer"; every text from the server is set with textContent,
// never parsed as HTML. Views: #/ overview + failures, #/jobs, #/job/ID, #/search/Q, #/trace, #/audit,
// #/catalog.
'use strict';

const TOKEN_KEY = 'synchub.token';
const $ = (id) => document.getElementById(id);
const CLASSES = ['transient', 'configuration', 'data', 'internal'];
let refreshTimer = null;

// el('div', {class: 'x', onclick: f}, 'text', child, …): a DOM element with text and children.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.classList.add('show');
  setTimeout(() => t.classList.remove('show'), 3000);
}

class ApiError extends Error {}

async function api(path, body) {
  const headers = { Authorization: 'Bearer ' + (sessionStorage.getItem(TOKEN_KEY) || '') };
  const opts = { method: body === undefined ? 'GET' : 'POST', headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch('/api/' + path, opts);
  const doc = await res.json().catch(() => null);
  if (res.status === 401 || res.status === 503 && doc && doc.code === 'web.no_operators') {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin(doc ? doc.error + (doc.hint ? ' — ' + doc.hint : '') : 'token refused');
    throw new ApiError('unauthorized');
  }
  if (!res.ok) throw new ApiError(doc && doc.error ? doc.error : 'HTTP ' + res.status);
  return doc;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
const badge = (state) => el('span', { class: 'badge state-' + state }, state);
const jobLink = (id) => el('a', { href: '#/job/' + id, class: 'mono' }, id.slice(0, 12));

// ---- login ---------------------------------------------------------------------------------------------------

function showLogin(message) {
  $('login').hidden = false;
  $('view').hidden = true;
  $('nav').hidden = $('search').hidden = $('logout').hidden = true;
  $('login-error').textContent = message || '';
  $('token').focus();
}

function showApp() {
  $('login').hidden = true;
  $('view').hidden = false;
  $('nav').hidden = $('search').hidden = $('logout').hidden = false;
}

// ---- views ---------------------------------------------------------------------------------------------------

function chart(buckets, bucketSeconds) {
  const NS = 'http://www.w3.org/2000/svg';
  const W = 1000, H = 160, pad = 22;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H + pad}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('preserveAspectRatio', 'none');
  const total = (b) => b.done + CLASSES.reduce((s, c) => s + b.failed[c], 0);
  const max = Math.max(1, ...buckets.map(total));
  const bw = W / buckets.length;
  const rect = (x, y, w, h, cls) => {
    const r = document.createElementNS(NS, 'rect');
    for (const [k, v] of Object.entries({ x, y, width: w, height: h, class: cls })) r.setAttribute(k, v);
    svg.append(r);
  };
  buckets.forEach((b, i) => {
    let y = H;
    for (const [n, cls] of [[b.done, 'done'], ...CLASSES.map((c) => [b.failed[c], c])]) {
      if (!n) continue;
      const h = (n / max) * (H - 10);
      y -= h;
      rect(i * bw + 1, y, bw - 2, h, 'bar-' + cls);
    }
  });
  const text = (x, anchor, s) => {
    const t = document.createElementNS(NS, 'text');
    t.setAttribute('x', x);
    t.setAttribute('y', H + 16);
    t.setAttribute('text-anchor', anchor);
    t.setAttribute('class', 'axis');
    t.textContent = s;
    svg.append(t);
  };
  if (buckets.length) {
    text(2, 'start', new Date(buckets[0].at).toLocaleTimeString());
    text(W - 2, 'end', 'now · max ' + max + ' per ' + Math.round(bucketSeconds / 60) + ' min');
  }
  return svg;
}

function answers(a) {
  if (!a) return null;
  return el('dl', { class: 'answers' },
    el('dt', {}, 'Record'), el('dd', {}, a.record),
    el('dt', {}, 'What is missing'), el('dd', {}, a.missing),
    a.hint && [el('dt', {}, 'What to do'), el('dd', {}, a.hint)],
    el('dt', {}, 'Temporary?'), el('dd', {}, a.temporary),
    el('dt', {}, 'Retry safe?'), el('dd', {}, a.retry_safe));
}

async function act(path, body, done) {
  try {
    const r = await api(path, body || {});
    toast(r.count !== undefined ? `${r.action}: ${r.count} job(s)` : `${r.action}: ${r.job.slice(0, 12)}`);
    if (done) done(r);
  } catch (e) {
    if (!(e instanceof ApiError && e.message === 'unauthorized')) toast('failed: ' + e.message);
  }
}

async function viewOverview(v) {
  const [o, f] = await Promise.all([api('overview'), api('failures')]);
  const card = (label, value, alert) =>
    el('div', { class: 'card' + (alert ? ' alert' : '') }, el('div', { class: 'value' }, value),
      el('div', { class: 'label' }, label));
  v.append(el('h2', {}, 'Overview'));
  // A target whose circuit breaker is open: its jobs wait (attempts not counted) until a probe gets an answer.
  for (const p of o.paused || []) {
    v.append(el('div', { class: 'panel paused', 'data-target': p.target },
      el('strong', {}, `${p.system} down: `), el('code', {}, p.target), ` paused since ${when(p.since)} · ` +
      `${p.jobs} job${p.jobs === 1 ? '' : 's'} waiting, attempts not counted; probing until it answers`));
  }
  v.append(
    el('div', { class: 'cards' },
      card('throughput / min (last hour)', o.throughput_per_minute.toFixed(1)),
      card('lag', o.lag_seconds.toFixed(1) + ' s', o.lag_seconds > 60),
      card('queued', o.counts.queued), card('running', o.counts.running), card('retrying', o.counts.retry),
      card('dead', o.dead, o.dead > 0), card('failed attempts (last hour)', o.failed_last_hour)),
    el('h2', {}, 'Attempts over the last ' + Math.round(o.buckets.length * o.bucket_seconds / 3600) + ' hours'),
    chart(o.buckets, o.bucket_seconds),
    el('div', { class: 'legend' }, ['done', ...CLASSES].map((c) => el('span', {}, el('i', { class: 'sw-' + c }),
      c === 'done' ? 'done' : c + ' errors'))));

  v.append(el('h2', { id: 'failures' }, `Failed jobs by cause (${f.dead} dead)`));
  if (!f.causes.length) v.append(el('p', { class: 'muted' }, 'No dead jobs.'));
  for (const c of f.causes) {
    const cause = { class: c.class, code: c.code };
    v.append(el('div', { class: 'panel cause', 'data-code': c.code },
      el('h3', {}, el('span', { class: 'cls-' + c.class }, c.class), ' · ', el('code', {}, c.code), ' · ',
        c.count + ' job' + (c.count === 1 ? '' : 's'), el('span', { class: 'muted' }, '  kinds: ' + c.kinds.join(', '))),
      answers(c.answers),
      el('div', { class: 'muted' }, 'Newest: ', jobLink(c.sample.job), ' · ', when(c.last_at),
        c.unsafe ? ` · ${c.unsafe} not safe to retry` : ''),
      el('div', { class: 'actions' },
        el('button', { type: 'button', class: 'retry-cause', onclick: () => confirm(`Retry all ${c.count} dead ` +
          `jobs of ${c.code}?`) && act('failures/retry', cause, route) }, `Retry all ${c.count}`),
        el('button', { type: 'button', class: 'danger', onclick: () => confirm(`Discard all ${c.count} dead jobs ` +
          `of ${c.code}? They will not run.`) && act('failures/discard', cause, route) }, `Discard all ${c.count}`))));
  }
  refreshTimer = setTimeout(route, 10000);
}

// A filter form whose submit puts its fields into the hash (#/jobs?state=dead&…), so views can be bookmarked.
function filterForm(path, ...fields) {
  const form = el('form', { class: 'filters' }, ...fields, el('button', { type: 'submit' }, 'Show'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = '#' + path + '?' + new URLSearchParams(new FormData(form)).toString();
  });
  return form;
}

function jobsTable(jobs) {
  if (!jobs.length) return el('p', { class: 'muted' }, 'No jobs.');
  return el('table', { class: 'jobs' },
    el('tr', {}, ['Job', 'Kind', 'State', 'Tries', 'Updated', 'Ordering key / error'].map((h) => el('th', {}, h))),
    jobs.map((j) => el('tr', { 'data-job': j.id },
      el('td', {}, jobLink(j.id)), el('td', {}, j.kind), el('td', {}, badge(j.state)),
      el('td', {}, `${j.attempts}/${j.max_attempts}`), el('td', {}, when(j.updated_at)),
      el('td', {}, el('div', { class: 'mono' }, j.ordering_key),
        j.error && el('div', { class: 'cls-' + j.error.class }, `${j.error.code}: ${j.error.message}`)))));
}

async function viewJobs(v, params) {
  const state = params.get('state') || '', kind = params.get('kind') || '', q = params.get('q') || '';
  const form = filterForm('/jobs',
    el('select', { name: 'state' }, ['', 'queued', 'running', 'retry', 'done', 'dead', 'discarded'].map((s) =>
      el('option', { value: s, selected: s === state }, s || 'any state'))),
    el('input', { name: 'kind', placeholder: 'kind', value: kind }),
    el('input', { name: 'q', placeholder: 'id prefix, ordering key, correlation', value: q }));
  const r = await api('jobs?' + new URLSearchParams({ state, kind, q, limit: 200 }).toString());
  v.append(el('h2', {}, 'Jobs'), form, jobsTable(r.jobs));
}

function payloadView(payload) {
  return el('pre', { class: 'payload' }, JSON.stringify(payload, null, 2));
}

async function viewJob(v, id) {
  const j = await api('jobs/' + encodeURIComponent(id));
  const reload = () => route();
  const box = el('div', { id: 'payload-box' }, payloadView(j.payload));
  const reveal = el('button', { type: 'button', class: 'secondary', id: 'reveal', onclick: async () => {
    try {
      const r = await api('jobs/' + j.id + '/reveal', {});
      box.replaceChildren(el('div', { class: 'notice' }, `Customer data revealed. This was recorded in the audit ` +
        `log as ${r.audited}.`), payloadView(r.payload));
      reveal.disabled = true;
    } catch (e) { toast('reveal failed: ' + e.message); }
  } }, 'Reveal customer data');
  const can = { retry: ['dead', 'retry', 'queued'], discard: ['dead', 'retry', 'queued'], replay: ['done'] };
  v.append(el('h2', {}, 'Job ', el('span', { class: 'mono' }, j.id), ' ', badge(j.state)),
    el('div', { class: 'panel' },
      el('dl', { class: 'answers' },
        el('dt', {}, 'Kind'), el('dd', {}, j.kind),
        el('dt', {}, 'Ordering key'), el('dd', { class: 'mono' }, j.ordering_key),
        el('dt', {}, 'Attempts'), el('dd', {}, `${j.attempt_count} of ${j.max_attempts}`),
        el('dt', {}, 'Source'), el('dd', {}, j.source + (j.correlation ? ' · correlation ' + j.correlation : '')),
        el('dt', {}, 'Created'), el('dd', {}, when(j.created_at)),
        el('dt', {}, 'Updated'), el('dd', {}, when(j.updated_at)),
        j.run_at && [el('dt', {}, 'Next run'), el('dd', {}, when(j.run_at))]),
      j.last_error && el('h3', { class: 'cls-' + j.last_error.class }, `${j.last_error.class} · ${j.last_error.code}`),
      answers(j.answers),
      el('div', { class: 'actions' }, Object.entries(can).filter(([, states]) => states.includes(j.state))
        .map(([verb]) => el('button', { type: 'button', id: 'job-' + verb, class: verb === 'discard' ? 'danger' : '',
          onclick: () => (verb !== 'discard' || confirm('Discard this job? It will not run.')) &&
            act(`jobs/${j.id}/${verb}`, {}, reload) }, verb[0].toUpperCase() + verb.slice(1))))),
    el('h2', {}, 'Attempts'),
    j.attempts.length ? el('table', {},
      el('tr', {}, ['#', 'Started', 'Finished', 'Outcome', 'Worker', 'Error or note'].map((h) => el('th', {}, h))),
      j.attempts.map((a) => el('tr', {}, el('td', {}, a.n), el('td', {}, when(a.started_at)),
        el('td', {}, when(a.finished_at)), el('td', {}, a.outcome), el('td', {}, a.worker || ''),
        el('td', {}, a.error ? el('span', { class: 'cls-' + a.error.class }, `${a.error.code}: ${a.error.message}`)
          : a.note || '')))) : el('p', { class: 'muted' }, 'Not run yet.'),
    el('h2', {}, 'Payload'),
    el('p', { class: 'muted' }, `Customer data is masked (${j.masked_values} values). Revealing it is recorded in ` +
      'the audit log under your token\'s name.'), reveal, box);
  if (['queued', 'running', 'retry'].includes(j.state)) refreshTimer = setTimeout(route, 1500);
}

async function viewSearch(v, q) {
  $('q').value = q;
  const r = await api('search?q=' + encodeURIComponent(q));
  v.append(el('h2', {}, 'Search: ' + q));
  if (!r.results.length) v.append(el('p', { class: 'muted' }, 'Nothing found. ' + r.note));
  for (const x of r.results) {
    const head = x.type === 'order'
      ? el('h3', {}, `Order ${x.order.name || ''} (${x.order.id}) in ${x.shop} `,
        el('a', { href: `#/trace?shop=${encodeURIComponent(x.shop)}&order=${x.order.id}` }, 'trace'))
      : el('h3', {}, x.type === 'sku' ? `SKU ${x.sku} in ${x.shop}` : `Jobs (${x.matched})`);
    const jobs = x.type === 'job' ? [x.job] : x.jobs;
    v.append(el('div', { class: 'panel' }, head, x.type === 'order'
      ? el('ul', {}, jobs.map((j) => el('li', {}, jobLink(j.id), ' ', j.kind, ' ', badge(j.state))))
      : jobsTable(jobs)));
  }
}

async function viewTrace(v, params) {
  const shop = params.get('shop') || '', order = params.get('order') || '';
  const form = filterForm('/trace',
    el('input', { name: 'shop', placeholder: 'shop (acme.myshopify.com)', value: shop }),
    el('input', { name: 'order', placeholder: 'order id or #name', value: order }));
  v.append(el('h2', {}, 'Trace an order'), form);
  if (!order) return;
  const t = await api('trace?' + new URLSearchParams({ shop, order }).toString());
  const rows = [];
  for (const d of t.deliveries) rows.push([d.received_at, 'webhook', `${d.topic} (duplicates refused: ${d.duplicates})`]);
  for (const j of t.jobs) for (const a of j.attempts)
    rows.push([a.started_at, 'job ' + j.id.slice(0, 12), `${j.kind} attempt ${a.n}: ${a.outcome}` +
      (a.error ? ` — ${a.error.code}: ${a.error.message}` : '')]);
  for (const o of t.odoo) rows.push([o.at, 'odoo', `${o.action} ${o.model}/${o.id ?? '?'}`]);
  for (const s of t.shopify) rows.push([s.at, 'shopify', `${s.action} ${s.target || ''}`]);
  for (const i of t.inventory) rows.push([i.at, 'stock', `${i.sku} @ ${i.location}: ${i.quantity}`]);
  rows.sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  v.append(el('h3', {}, `Order ${t.order.name || ''} (${t.order.id}) in ${t.shop}`),
    el('table', {}, el('tr', {}, ['When', 'Where', 'What'].map((h) => el('th', {}, h))),
      rows.map((r) => el('tr', {}, el('td', {}, when(r[0])), el('td', {}, r[1]), el('td', {}, r[2])))));
}

async function viewAudit(v) {
  const r = await api('audit?limit=200');
  v.append(el('h2', {}, 'Audit log'), r.audit.length ? el('table', { class: 'audit' },
    el('tr', {}, ['When', 'Who', 'Action', 'Target', 'Detail'].map((h) => el('th', {}, h))),
    r.audit.map((a) => el('tr', {}, el('td', {}, when(a.at)), el('td', {}, a.actor), el('td', {}, a.action),
      el('td', { class: 'mono' }, a.target), el('td', {}, a.detail ? `${a.detail.count} job(s)` : ''))))
    : el('p', { class: 'muted' }, 'No operator actions yet.'));
}

// The integration catalog (what `synchub catalog` prints): one card per flow, findings first.
async function viewCatalog(v) {
  const r = await api('catalog');
  const list = (a) => (a && a.length ? a.join(', ') : '-');
  const models = (m) => Object.keys(m).length ? Object.entries(m).map(([k, f]) => `${k}: ${f.join(', ')}`).join('; ') : '-';
  v.append(el('h2', {}, 'Integration catalog'),
    r.findings.length ? el('ul', { class: 'findings' }, r.findings.map((f) => el('li', {}, `${f.flow}: ${f.finding} (${f.fix})`)))
      : el('p', { class: 'muted' }, 'No findings: every flow runs and has an owner.'));
  for (const f of r.flows) {
    const trig = f.trigger.map((t) => [t.type, t.path && 'POST ' + t.path, t.what, t.every && 'every ' + t.every,
      t.topics && t.topics.join(', '), t.command].filter(Boolean).join(' ')).join('; ');
    const rows = [
      ['What', f.title], ['Source → target', `${f.source} → ${f.target}`], ['Trigger', trig],
      ['Endpoints', f.endpoints.map((e) => `${e.direction} ${e.system} ${e.url}`).join('; ')],
      ['Odoo reads', models(f.odoo.reads)], ['Odoo writes', models(f.odoo.writes)],
      ['Shopify reads', list(f.shopify.reads)], ['Shopify writes', list(f.shopify.writes)],
      ['Data classes', list(f.data_classes)],
      ['Rules', f.rules.length ? f.rules.map((x) => `[${x.section}] ${x.name} = ${x.value}`).join('; ') : '-'],
      ['Retry', f.retry.map((p) => `${p.kind}: priority ${p.priority}, ${p.max_attempts} attempts, backoff ` +
        `${p.backoff_base}..${p.backoff_cap}, lease ${p.lease}`).join('; ')],
      ['Owner', f.owner ? `${f.owner} ([${f.owner_from}])` : 'unowned']];
    v.append(el('h3', {}, f.id + (f.enabled ? '' : ` (disabled: ${f.disabled_because})`)),
      el('table', { class: 'catalog' }, rows.map(([k, val]) => el('tr', {}, el('th', {}, k), el('td', {}, val)))));
  }
}

// ---- routing -------------------------------------------------------------------------------------------------

async function route() {
  clearTimeout(refreshTimer);
  if (!sessionStorage.getItem(TOKEN_KEY)) return showLogin();
  showApp();
  const [path, query] = (location.hash.slice(1) || '/').split('?');
  const params = new URLSearchParams(query || '');
  const v = el('div', {});
  for (const a of document.querySelectorAll('nav a'))
    a.classList.toggle('active', a.getAttribute('href') === '#' + path);
  try {
    if (path.startsWith('/job/')) await viewJob(v, decodeURIComponent(path.slice(5)));
    else if (path === '/jobs') await viewJobs(v, params);
    else if (path.startsWith('/search/')) await viewSearch(v, decodeURIComponent(path.slice(8)));
    else if (path === '/trace') await viewTrace(v, params);
    else if (path === '/audit') await viewAudit(v);
    else if (path === '/catalog') await viewCatalog(v);
    else await viewOverview(v);
  } catch (e) {
    if (e instanceof ApiError && e.message === 'unauthorized') return;
    v.append(el('p', { class: 'error' }, 'Could not load: ' + e.message));
  }
  $('view').replaceChildren(v);
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    $('token').value = '';
    route();
  });
  $('logout').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin();
  });
  $('search').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = $('q').value.trim();
    if (q) location.hash = '#/search/' + encodeURIComponent(q);
  });
  window.addEventListener('hashchange', route);
  route();
});
