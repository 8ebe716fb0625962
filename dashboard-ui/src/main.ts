import './style.css';
import { LineChart } from './charts.js';
import { card, h } from './dom.js';
import { renderAlerts, renderEvents, renderFleet, renderGroups, renderMemory, renderOverview, renderRuns, renderTiers } from './render.js';
import { openStream } from './stream.js';
import type { EventView, Snapshot, WarmRun } from './types.js';

const TOKEN_KEY = 'tiercache-dashboard-token';
const app = document.getElementById('app') as HTMLElement;
const connection = document.querySelector('[data-testid=connection]') as HTMLElement;
const access = document.querySelector('[data-testid=access]') as HTMLElement;
const cacheName = document.querySelector('[data-testid=cache-name]') as HTMLElement;
const tokenForm = document.querySelector('[data-testid=token-form]') as HTMLFormElement;
const tokenInput = tokenForm.elements.namedItem('token') as HTMLInputElement;

// The token lives in this tab only (sessionStorage), and travels in an Authorization header, never a cookie.
let token = sessionStorage.getItem(TOKEN_KEY) ?? '';
const authHeaders = (): Record<string, string> => (token === '' ? {} : { authorization: `Bearer ${token}` });

const overview = card('overview', 'Overview', true);
const hitChart = card('hit-rate-chart', 'Hit rate over time', true);
const latencyChart = card('latency-chart', 'Read p99 over time');
const tiers = card('tiers', 'Tiers: latency and breakers', true);
const memory = card('memory', 'Memory');
const alerts = card('alerts', 'Alerts and advice');
const events = card('events', 'Invalidation log', true);
const groups = card('key-groups', 'Top key groups');
const warming = card('warming', 'Warming');
const fleet = card('fleet', 'Fleet', true);
const actions = card('actions', 'Actions');
app.append(overview.root, hitChart.root, latencyChart.root, tiers.root, memory.root, alerts.root, events.root, groups.root, warming.root, actions.root, fleet.root);

const hitPlot = new LineChart(hitChart.body, 'rate');
const latencyPlot = new LineChart(latencyChart.body, 'ms');
const warmButtons = h('div', { class: 'buttons' });
const runsHost = h('div', { class: 'runs' });
warming.body.append(warmButtons, runsHost);

let snapshot: Snapshot | undefined;
let eventList: EventView[] = [];
const runs = new Map<number, WarmRun>();

function render(s: Snapshot): void {
  snapshot = s;
  cacheName.textContent = s.cache;
  access.textContent = !s.access.actions ? 'read-only (no admin token configured)' : s.access.authorized ? 'token accepted: actions on' : 'read-only: enter the token for actions';
  access.className = `pill ${s.access.authorized ? 'ok' : 'muted-pill'}`;
  renderOverview(overview.body, s);
  renderTiers(tiers.body, s);
  renderMemory(memory.body, s);
  renderGroups(groups.body, s);
  renderAlerts(alerts.body, s);
  renderFleet(fleet.body, s);
  eventList = s.events;
  renderEvents(events.body, eventList);
  for (const run of s.warming.runs) runs.set(run.id, run);
  renderRuns(runsHost, [...runs.values()]);
  renderWarmers(s);
  const tierNames = s.tiers.map((t) => t.tier);
  hitPlot.update(s.history, [{ label: 'all', value: (p) => p.hitRate }, ...tierNames.map((name) => ({ label: name, value: (p: Snapshot['history'][number]) => p.tiers.find((t) => t.tier === name)?.hitRate ?? null }))]);
  latencyPlot.update(
    s.history,
    tierNames.map((name) => ({ label: name, value: (p: Snapshot['history'][number]) => p.tiers.find((t) => t.tier === name)?.p99 ?? null })),
  );
}

function renderWarmers(s: Snapshot): void {
  if (s.warming.warmers.length === 0) return void warmButtons.replaceChildren(h('p', { class: 'muted' }, 'No warmer is registered with this dashboard.'));
  warmButtons.replaceChildren(
    ...s.warming.warmers.map((name) => {
      const button = h('button', { type: 'button', 'data-testid': `warm-${name}` }, `Warm ${name}`);
      button.disabled = !s.access.authorized || [...runs.values()].some((r) => r.warmer === name && r.state === 'running');
      button.addEventListener('click', () => void act('warm', { warmer: name }));
      return button;
    }),
  );
}

// ---- actions ---------------------------------------------------------------------------------------------------

const result = h('p', { class: 'result', 'data-testid': 'action-result', role: 'status' });

async function act(action: string, body: Record<string, unknown>): Promise<void> {
  result.textContent = '…';
  result.className = 'result';
  try {
    const response = await fetch(`api/actions/${action}`, { method: 'POST', headers: { 'content-type': 'application/json', ...authHeaders() }, body: JSON.stringify(body), cache: 'no-store' });
    const answer = (await response.json()) as { ok?: boolean; removed?: number; error?: { message: string } };
    if (!response.ok) throw new Error(answer.error?.message ?? `answered ${response.status}`);
    result.textContent = `${action}: done${answer.removed === undefined ? '' : `, ${answer.removed} removed`}`;
    result.className = 'result ok';
  } catch (error) {
    result.textContent = `${action} refused: ${error instanceof Error ? error.message : String(error)}`;
    result.className = 'result error';
  }
}

function actionForm(id: string, label: string, fields: { name: string; placeholder: string }[], send: (values: Record<string, string>) => [string, Record<string, unknown>]): HTMLFormElement {
  const inputs = fields.map((f) => h('input', { name: f.name, placeholder: f.placeholder, required: '', 'aria-label': f.placeholder, autocomplete: 'off' }));
  const form = h('form', { class: 'action', 'data-testid': id }, ...inputs, h('button', { type: 'submit' }, label));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = Object.fromEntries(inputs.map((input) => [input.name, input.value.trim()]));
    const [action, body] = send(values);
    void act(action, body);
  });
  return form;
}

actions.body.append(
  actionForm('invalidate-tag', 'Invalidate tag', [{ name: 'tag', placeholder: 'tag, e.g. user:42' }], (v) => ['invalidate', { tags: [v.tag] }]),
  actionForm('invalidate-pattern', 'Invalidate pattern', [{ name: 'pattern', placeholder: 'pattern, e.g. report:*' }], (v) => ['invalidate', { pattern: v.pattern }]),
  actionForm('invalidate-key', 'Invalidate key', [{ name: 'key', placeholder: 'key' }], (v) => ['invalidate', { keys: [v.key] }]),
  actionForm('expire-tag', 'Expire tag (soft)', [{ name: 'tag', placeholder: 'tag to mark stale' }], (v) => ['expire', { tags: [v.tag] }]),
  actionForm('clear', 'Clear everything', [{ name: 'confirm', placeholder: 'type clear to confirm' }], (v) => ['clear', { confirm: v.confirm }]),
  result,
);

// ---- token and stream ----------------------------------------------------------------------------------------

tokenInput.value = token;
let stream = start();
tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  token = tokenInput.value.trim();
  if (token === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
  stream.stop();
  stream = start();
});

function start(): { stop(): void } {
  return openStream('api/stream', authHeaders, {
    onState(state) {
      connection.textContent = state;
      connection.className = `pill ${state === 'live' ? 'ok' : 'muted-pill'}`;
    },
    onEvent({ event, data }) {
      if (event === 'snapshot') render(JSON.parse(data) as Snapshot);
      else if (event === 'invalidation') {
        const item = JSON.parse(data) as EventView;
        if (!eventList.some((e) => e.id === item.id)) eventList = [...eventList, item].slice(-50);
        renderEvents(events.body, eventList);
      } else if (event === 'events') {
        eventList = JSON.parse(data) as EventView[];
        renderEvents(events.body, eventList);
      } else if (event === 'warm') {
        const run = JSON.parse(data) as WarmRun;
        runs.set(run.id, run);
        renderRuns(runsHost, [...runs.values()]);
        if (snapshot !== undefined) renderWarmers(snapshot);
      }
    },
  });
}
