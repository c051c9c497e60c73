// The epochd web page: the jobs, their stats, and a live chart of each job's
// per-second results (Server-Sent Events). Plain JavaScript, no build step.
// Text from the server is only ever set with textContent, never as HTML.
'use strict';

const WINDOW_SECS = 120; // epochs a chart shows
const JOBS_EVERY_MS = 3000; // how often the jobs table is refreshed
const RETRY_MS = 5000; // a stream that failed is reopened after this
// A browser opens at most 6 connections to one server over HTTP/1.1, and
// each stream holds one: leave room for the page's other requests.
const MAX_STREAMS = 4;
// The default series: the shallowest numeric field, preferring these names.
const PREFERRED = ['total', 'count', 'events', 'rate', 'p95', 'p99', 'p50'];
const LOG_LINES = 8; // a card shows the job's last log lines

let token = '';
const views = new Map(); // job name -> JobView
let watched = []; // names of the jobs streamed live, oldest first
let refreshTimer = null;
let inCluster = false; // GET /v1/cluster answered: the charts show merged results

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

// ---- token: from `#token=...` (then removed from the address bar) or the form

function loadToken() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    token = decodeURIComponent(m[1]);
    sessionStorage.setItem('epochd.token', token);
    history.replaceState(null, '', location.pathname + location.search);
  } else {
    token = sessionStorage.getItem('epochd.token') || '';
  }
}

function useToken(t) {
  token = t;
  if (t) sessionStorage.setItem('epochd.token', t);
  else sessionStorage.removeItem('epochd.token');
  closeAll();
  refreshJobs();
}

function setStatus(kind, text) {
  const s = $('status');
  s.className = kind || 'muted';
  s.textContent = text;
}

// ---- API

async function api(path) {
  const headers = token ? { Authorization: 'Bearer ' + token } : {};
  const res = await fetch(path, { headers, cache: 'no-store' });
  if (!res.ok) {
    let message = res.status + ' ' + res.statusText;
    try {
      const body = await res.json();
      if (body && body.message) message = body.message;
    } catch (_) { /* not JSON */ }
    const err = new Error(message);
    err.status = res.status;
    throw err;
  }
  return res.json();
}

const jobPath = (name) => '/v1/jobs/' + encodeURIComponent(name);
// A job's results: this node's own, or in a cluster the gateway's merge of
// every node's (docs/CLUSTER.md, "The gateway's contract").
const resultsPath = (name) => (inCluster ? '/v1/cluster/jobs/' + encodeURIComponent(name) : jobPath(name)) + '/results';

// ---- the jobs table

async function refreshJobs() {
  clearTimeout(refreshTimer);
  try {
    const body = await api('/v1/jobs');
    $('token-form').classList.remove('needed');
    showJobs(body.jobs || []);
    setStatus('muted', 'jobs updated ' + clock(Date.now() / 1000));
  } catch (e) {
    if (e.status === 401 || e.status === 403) {
      closeAll();
      $('token-form').classList.add('needed');
      setStatus('error', (token ? 'token refused: ' : 'a read token is needed: ') + e.message);
    } else {
      setStatus('error', 'cannot list the jobs: ' + e.message);
    }
  }
  refreshTimer = setTimeout(refreshJobs, JOBS_EVERY_MS);
}

function showJobs(jobs) {
  const names = new Set(jobs.map((j) => j.name));
  for (const [name, view] of views) {
    if (!names.has(name)) {
      view.close();
      view.card.remove();
      views.delete(name);
    }
  }
  watched = watched.filter((n) => views.has(n));
  const tbody = $('jobs').tBodies[0];
  const rows = [];
  const created = [];
  for (const job of jobs) {
    const s = job.stats || {};
    const tr = el('tr');
    tr.dataset.job = job.name;
    tr.append(el('td', 'name', job.name));
    const state = el('td', 'state ' + job.state, job.state);
    if (job.paused_reason) {
      state.textContent += ': ' + job.paused_reason;
      state.title = job.paused_reason;
    }
    tr.append(state);
    tr.append(el('td', 'num', s.runs));
    tr.append(el('td', 'num' + (s.errors ? ' error' : ''), s.errors));
    const last = el('td', 'last-error' + (s.last_error ? '' : ' none'), s.last_error || '—');
    if (s.last_error) last.title = s.last_error;
    tr.append(last);
    tr.append(el('td', 'num', typeof s.cpu_seconds === 'number' ? s.cpu_seconds.toFixed(2) : '—'));
    tr.append(el('td', 'num', s.lag_epochs === null || s.lag_epochs === undefined ? '—' : s.lag_epochs));
    rows.push(tr);
    if (!views.has(job.name)) {
      views.set(job.name, new JobView(job.name));
      created.push(views.get(job.name));
    }
    views.get(job.name).newest = s.last_epoch;
  }
  tbody.replaceChildren(...rows);
  for (const view of views.values()) {
    if (watched.length >= MAX_STREAMS) break;
    if (!view.source) watch(view);
  }
  // Cards in the table's order, moved only when it changed.
  const charts = $('charts');
  const cards = jobs.map((j) => views.get(j.name).card);
  if (cards.some((c, i) => charts.children[i] !== c)) charts.append(...cards);
  created.forEach((v) => v.draw());
}

// Streams a job live, idling the one streamed longest when all are in use.
function watch(view) {
  if (watched.length >= MAX_STREAMS) views.get(watched.shift()).idle();
  watched.push(view.name);
  view.open(view.startFrom());
}

function closeAll() {
  for (const view of views.values()) {
    view.close();
    view.card.remove();
  }
  views.clear();
  watched = [];
  $('jobs').tBodies[0].replaceChildren();
}

// ---- numbers out of results of any shape

// Every finite number in `v`, keyed by its path (nested keys joined with
// dots; arrays are skipped; '' is `v` itself when it is a number).
function flatten(v, prefix = '', out = {}) {
  if (typeof v === 'number' && Number.isFinite(v)) {
    out[prefix] = v;
  } else if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const k of Object.keys(v)) flatten(v[k], prefix ? prefix + '.' + k : k, out);
  }
  return out;
}

// An epoch's numbers: its merge when the job has one, else the sum over
// its dcs' results.
function numbersOf(epoch) {
  if (epoch.merged !== null && epoch.merged !== undefined) return flatten(epoch.merged);
  const sum = {};
  for (const r of epoch.results || []) {
    if (r.status !== 'ok' || r.result === undefined) continue;
    for (const [k, v] of Object.entries(flatten(r.result))) sum[k] = (sum[k] || 0) + v;
  }
  return sum;
}

function defaultField(fields) {
  let best = null;
  let bestScore = null;
  for (const f of fields) {
    const parts = f === '' ? [] : f.split('.');
    const pref = PREFERRED.indexOf(parts[parts.length - 1]);
    const score = [parts.length, pref < 0 ? PREFERRED.length : pref];
    if (!bestScore || score[0] < bestScore[0] || (score[0] === bestScore[0] && score[1] < bestScore[1])) {
      best = f;
      bestScore = score;
    }
  }
  return best;
}

function fmt(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(3)));
}

// A round step (1, 2 or 5 times a power of ten) cutting `range` in about 3.
function niceStep(range) {
  if (!(range > 0)) return 1;
  const raw = range / 3;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

function clock(epoch) {
  return new Date(epoch * 1000).toLocaleTimeString([], { hour12: false });
}

// ---- one job's chart and stream

class JobView {
  constructor(name) {
    this.name = name;
    this.points = new Map(); // epoch -> {field: number}
    this.fields = new Set();
    this.field = sessionStorage.getItem('epochd.field.' + name);
    this.lastEpoch = null; // the newest epoch received
    this.newest = null; // the job's last epoch, from the jobs table
    this.source = null;
    this.retry = null;
    this.drawPending = false;

    this.card = el('div', 'card');
    this.card.dataset.job = name;
    const head = el('div', 'card-head');
    this.badge = el('span', 'badge');
    this.last = el('span', 'muted last', 'no epoch yet');
    this.select = el('select');
    this.select.title = 'the number charted';
    this.select.hidden = true;
    this.select.addEventListener('change', () => {
      this.field = this.select.value;
      sessionStorage.setItem('epochd.field.' + name, this.field);
      this.draw();
    });
    this.value = el('span', 'value', '—');
    this.watchButton = el('button', 'watch', 'watch');
    this.watchButton.title = `at most ${MAX_STREAMS} jobs are streamed at once`;
    this.watchButton.hidden = true;
    this.watchButton.addEventListener('click', () => watch(this));
    head.append(el('h3', null, name), this.badge, this.watchButton, this.value);
    const sub = el('div', 'card-sub');
    sub.append(this.last, this.select);
    this.canvas = el('canvas');
    this.canvas.dataset.job = name;
    this.canvas.dataset.epochs = '';
    // What the job logged (the ABI's `log`), newest last, from the
    // streamed results; hidden until it logs.
    this.logLines = [];
    this.log = el('pre', 'log');
    this.log.hidden = true;
    this.log.title = 'the job\'s last log lines (all of them: epochd job logs ' + name + ')';
    this.card.append(head, sub, this.canvas, this.log);
    this.setState('idle');
  }

  // Where a stream starts: after the last epoch received, catching up on
  // the chart's window from storage; with no epoch known, from now.
  startFrom() {
    const catchUp = typeof this.newest === 'number' ? Math.max(0, this.newest - WINDOW_SECS + 1) : null;
    if (this.lastEpoch === null) return catchUp;
    return Math.max(this.lastEpoch + 1, catchUp || 0);
  }

  open(from) {
    clearTimeout(this.retry);
    const q = new URLSearchParams();
    if (token) q.set('access_token', token);
    if (from !== null) q.set('from', from);
    const es = new EventSource(resultsPath(this.name) + '/stream?' + q);
    this.source = es;
    this.setState('connecting');
    es.onopen = () => this.setState('live');
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        // Refused (not a stream): try again later from where we were.
        es.close();
        this.setState('disconnected');
        this.retry = setTimeout(() => this.open(this.resumeFrom(from)), RETRY_MS);
      } else {
        this.setState('reconnecting'); // the browser resumes with Last-Event-ID
      }
    };
    es.addEventListener('epoch', (e) => this.onEpoch(JSON.parse(e.data)));
    es.addEventListener('late', (e) => this.onLate(JSON.parse(e.data)));
    // The gateway's new version of an epoch already shown replaces it.
    es.addEventListener('correction', (e) => {
      const data = JSON.parse(e.data);
      if (this.points.has(data.epoch)) this.put(data.epoch, data);
    });
    es.addEventListener('end', (e) => {
      // The server closes after `end`: a new stream from where it says
      // (at once when we lagged; after a pause when the server failed).
      let end = {};
      try { end = JSON.parse(e.data); } catch (_) { /* resume from our own position */ }
      es.close();
      this.setState('resuming');
      const next = typeof end.resume_from === 'number' ? end.resume_from : this.resumeFrom(from);
      this.retry = setTimeout(() => this.open(next), end.reason === 'lagging' ? 0 : RETRY_MS);
    });
  }

  resumeFrom(fallback) {
    return this.lastEpoch !== null ? this.lastEpoch + 1 : fallback;
  }

  close() {
    clearTimeout(this.retry);
    if (this.source) this.source.close();
    this.source = null;
  }

  idle() {
    this.close();
    this.setState('idle');
    this.draw();
  }

  setState(state) {
    this.badge.className = 'badge ' + state;
    this.badge.textContent = state;
    this.watchButton.hidden = state !== 'idle';
  }

  onEpoch(data) {
    const epoch = data.epoch;
    if (this.lastEpoch === null || epoch > this.lastEpoch) this.lastEpoch = epoch;
    this.last.textContent = 'epoch ' + this.lastEpoch + ' (' + clock(this.lastEpoch) + ')';
    this.put(epoch, data);
  }

  // A result arrived for an epoch already sent: read the epoch again, so
  // that its merge covers every result.
  async onLate(data) {
    if (!this.points.has(data.epoch)) return;
    try {
      const r = await api(resultsPath(this.name) + '?from=' + data.epoch + '&to=' + data.epoch);
      if (r.epochs && r.epochs.length) this.put(data.epoch, r.epochs[0]);
    } catch (_) { /* the next epochs matter more */ }
  }

  // Appends the log lines of an epoch's results (each run's own lines).
  addLogs(data) {
    for (const r of data.results || []) {
      for (const line of r.logs || []) {
        const failed = r.status === 'error' ? '  (run failed)' : '';
        this.logLines.push(`${clock(data.epoch)} ${r.dc}/${r.seq} ${line.level} ${line.message}${failed}`);
      }
    }
    if (!this.logLines.length) return;
    this.logLines = this.logLines.slice(-LOG_LINES);
    this.log.textContent = this.logLines.join('\n');
    this.log.hidden = false;
  }

  put(epoch, data) {
    this.addLogs(data);
    const nums = numbersOf(data);
    this.points.set(epoch, nums);
    for (const e of this.points.keys()) {
      if (e <= this.lastEpoch - WINDOW_SECS) this.points.delete(e);
    }
    let added = false;
    for (const f of Object.keys(nums)) {
      if (!this.fields.has(f)) {
        this.fields.add(f);
        added = true;
      }
    }
    if (this.field === null || !this.fields.has(this.field)) {
      this.field = defaultField(this.fields);
      added = true;
    }
    if (added) this.fillSelect();
    if (!this.drawPending) {
      this.drawPending = true;
      requestAnimationFrame(() => {
        this.drawPending = false;
        this.draw();
      });
    }
  }

  fillSelect() {
    const options = [...this.fields].sort().map((f) => {
      const o = el('option', null, f === '' ? '(value)' : f);
      o.value = f;
      return o;
    });
    this.select.replaceChildren(...options);
    this.select.value = this.field === null ? '' : this.field;
    this.select.hidden = this.fields.size < 2;
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const ctx = c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = '#6b7280';

    const pts = [...this.points.keys()]
      .sort((a, b) => a - b)
      .map((e) => [e, this.points.get(e)[this.field]])
      .filter((p) => typeof p[1] === 'number');
    c.dataset.epochs = pts.map((p) => p[0]).join(',');
    this.value.textContent = pts.length ? fmt(pts[pts.length - 1][1]) : '—';
    if (!pts.length) {
      const why = !this.source ? 'not streamed: press watch'
        : this.fields.size ? 'no value of this field yet' : 'waiting for numeric results…';
      ctx.fillText(why, 8, h / 2);
      return;
    }

    const L = 52;
    const R = 10;
    const T = 8;
    const B = 20;
    const right = this.lastEpoch;
    const left = right - WINDOW_SECS + 1;
    const values = pts.map((p) => p[1]);
    const step = niceStep(Math.max(...values) - Math.min(0, ...values));
    const lo = Math.floor(Math.min(0, ...values) / step) * step;
    const hi = Math.max(lo + step, Math.ceil(Math.max(...values) / step) * step);
    const x = (e) => L + ((e - left) / (right - left)) * (w - L - R);
    const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (h - T - B);

    // Grid and labels.
    ctx.strokeStyle = '#e5e7eb';
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let v = lo; v <= hi + step / 2; v += step) {
      const yy = Math.round(y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(L, yy);
      ctx.lineTo(w - R, yy);
      ctx.stroke();
      ctx.fillText(fmt(Number(v.toPrecision(12))), L - 6, yy);
    }
    ctx.textBaseline = 'alphabetic';
    ctx.textAlign = 'left';
    ctx.fillText(clock(left), L, h - 5);
    ctx.textAlign = 'right';
    ctx.fillText(clock(right), w - R, h - 5);

    // The series, broken where an epoch is missing.
    ctx.strokeStyle = '#2563eb';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let prev = null;
    for (const [e, v] of pts) {
      if (prev !== null && e === prev + 1) ctx.lineTo(x(e), y(v));
      else ctx.moveTo(x(e), y(v));
      prev = e;
    }
    ctx.stroke();
    ctx.fillStyle = '#2563eb';
    const have = new Set(pts.map((p) => p[0]));
    for (const [e, v] of pts) {
      if (!have.has(e - 1) && !have.has(e + 1)) {
        ctx.beginPath();
        ctx.arc(x(e), y(v), 2, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    const [le, lv] = pts[pts.length - 1];
    ctx.beginPath();
    ctx.arc(x(le), y(lv), 3, 0, 2 * Math.PI);
    ctx.fill();
  }
}

// ---- the cluster: its nodes, as this node sees them (hidden on a node alone)

async function refreshCluster() {
  try {
    const c = await api('/v1/cluster');
    inCluster = true;
    $('cluster-section').hidden = false;
    $('cluster-name').textContent = c.cluster + ', seen from ' + c.node_id;
    const now = Date.now() / 1000;
    const rows = (c.nodes || []).map((n) => {
      const tr = el('tr');
      tr.dataset.node = n.node_id;
      tr.append(el('td', 'name', n.node_id + (n.node_id === c.node_id ? ' (this node)' : '')));
      tr.append(el('td', null, n.url || '—'));
      const closed = typeof n.closed_through === 'number' ? n.closed_through : null;
      tr.append(el('td', 'num', closed === null ? '—' : clock(closed)));
      tr.append(el('td', 'num', closed === null ? '—' : Math.max(0, Math.floor(now - closed))));
      const state = n.state || (n.live === false ? 'lease gone' : 'live');
      tr.append(el('td', 'state ' + (state === 'live' ? 'running' : 'paused'), state));
      return tr;
    });
    $('cluster').tBodies[0].replaceChildren(...rows);
  } catch (e) {
    if (e.status === 404) {
      // A node alone: nothing to show, and nothing to ask again.
      inCluster = false;
      $('cluster-section').hidden = true;
      return;
    }
    if (inCluster) $('cluster-name').textContent = 'cannot read the cluster: ' + e.message;
  }
  setTimeout(refreshCluster, JOBS_EVERY_MS);
}

// ---- start

loadToken();
$('token-input').value = token;
$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  useToken($('token-input').value.trim());
});
window.addEventListener('resize', () => views.forEach((v) => v.draw()));
// Whether this node is in a cluster decides which results the charts show.
refreshCluster().finally(refreshJobs);
