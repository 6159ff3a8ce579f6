// The task table and the event log: one row per task (or event), filtered and sorted in place.
let TASK_ROWS = [];

function usageTotals() {
  let cost = false, tokens = false;
  for (const t of TASKS) {
    if (!t.usage) continue;
    if (t.usage.cost_usd !== null && t.usage.cost_usd !== undefined) cost = true;
    if (t.usage.input_tokens != null || t.usage.output_tokens != null) tokens = true;
  }
  return { cost, tokens };
}

function pathList(items, cls) {
  const max = 8;
  const li = items.slice(0, max).map(([path, tag, bad]) =>
    '<li' + (bad ? ' class="violation"' : '') + '>' + esc(path) +
    (tag ? '<span class="src" title="' + esc(SOURCE_NAMES[tag] || tag) + '">' + esc(tag) + '</span>' : '') + '</li>');
  let html = '<ul class="paths ' + cls + '">' + li.join('') + '</ul>';
  if (items.length > max) {
    html += '<details><summary>' + (items.length - max) + ' more</summary><ul class="paths">' +
      items.slice(max).map(([p, t, bad]) => '<li' + (bad ? ' class="violation"' : '') + '>' + esc(p) + '</li>').join('') + '</ul></details>';
  }
  return html;
}
const SOURCE_NAMES = { D: 'declared in files:', F: 'listed under ## Files', M: 'mentioned in the body', '?': 'source unknown' };

function footprintCell(t) {
  const predicted = (t.predicted || []).map(([p, src]) => [p, src || '', false]);
  let html = '<div class="fp-h">predicted</div>' + (predicted.length ? pathList(predicted, 'pred') :
    '<span class="muted">' + (t.exclusive ? 'unknown: runs alone' : 'none') + '</span>');
  if (IS_RUN && (t.changed || []).length) {
    const bad = new Set(t.violations || []);
    html += '<div class="fp-h">changed</div>' + pathList(t.changed.map((p) => [p, '', bad.has(p)]), 'changed');
  } else if (IS_RUN && t.attempts) {
    html += '<div class="fp-h">changed</div><span class="muted">nothing</span>';
  }
  return html;
}

function diffstatCell(t) {
  if (!t.merge) return t.branch ? '<span class="mono muted">' + esc(t.branch) + '</span>' : '';
  const lines = (t.diffstat || '').split('\n');
  const last = lines.length > 1 ? lines[lines.length - 1].trim() : (t.diffstat ? t.diffstat.trim() : 'no changes');
  return '<code>' + esc(short(t.merge)) + '</code><div class="muted">' + esc(last.replace(/ changed/, '')) + '</div>' +
    (lines.length > 1 ? '<details><summary>diffstat</summary><pre>' + esc(t.diffstat) + '</pre></details>' : '');
}

function inspectCell(t) {
  const lines = (t.commands || []).slice();
  if (t.log && !lines.some((c) => c.startsWith('less '))) lines.push('less ' + t.log);
  if (!lines.length) return '';
  return '<details><summary>git</summary><pre>' + esc(lines.join('\n')) + '</pre></details>';
}

function taskColumns() {
  const use = usageTotals();
  if (!IS_RUN) {
    return [
      ['Task', (t) => t.id, (t) => '<td class="id">' + esc(t.id) + (t.title ? '<span class="title">' + esc(t.title) + '</span>' : '') + '</td>'],
      ['Agent', (t) => t.agent, (t) => '<td>' + esc(t.agent) + '</td>'],
      ['Depends on', (t) => t.depends_on.length, (t) => '<td class="mono">' + esc(t.depends_on.join(', ')) + '</td>'],
      ['Footprint', (t) => (t.predicted || []).length, (t) => '<td>' + footprintCell(t) + '</td>'],
      ['Priority', (t) => t.priority, (t) => '<td class="num">' + esc(t.priority) + '</td>', 'num'],
      ['Estimate', (t) => t.estimate ?? -1, (t) => '<td class="num">' + (t.estimate == null ? '–' : dur(t.estimate)) + '</td>', 'num'],
      ['Slot', (t, i) => PLAN_OF[i] ? PLAN_OF[i][1] : -1, (t, i) => '<td class="num">' + (PLAN_OF[i] ? PLAN_OF[i][1] + 1 : '') + '</td>', 'num'],
      ['Start', (t, i) => PLAN_OF[i] ? PLAN_OF[i][2] : -1, (t, i) => '<td class="num">' + (PLAN_OF[i] ? dur(PLAN_OF[i][2]) : '') + '</td>', 'num'],
      ['End', (t, i) => PLAN_OF[i] ? PLAN_OF[i][3] : -1, (t, i) => '<td class="num">' + (PLAN_OF[i] ? dur(PLAN_OF[i][3]) : '') + '</td>', 'num'],
    ];
  }
  const cols = [
    ['Task', (t) => t.id, (t) => '<td class="id">' + esc(t.id) + (t.title ? '<span class="title">' + esc(t.title) + '</span>' : '') + '</td>'],
    ['Agent', (t) => t.agent, (t) => '<td>' + esc(t.agent) + '</td>'],
    ['State', (t) => outcomeOf(t), (t) => '<td><span class="badge ' + esc(outcomeOf(t)) + '">' + esc(outcomeOf(t)) + '</span>' +
      (t.reason && t.state !== 'merged' ? '<div class="reason">' + esc(t.reason) + '</div>' : t.reason ? '<div class="muted">' + esc(t.reason) + '</div>' : '') + '</td>'],
    ['Tries', (t) => t.attempts, (t) => '<td class="num">' + (t.attempts || '–') + '</td>', 'num'],
    ...(TASKS.some((t) => t.node) ? [['Node', (t) => t.node || '', (t) => '<td class="mono">' + esc(t.node || '') + '</td>']] : []),
    ['Agent time', (t, i) => SPAN_OF[i] ? SPAN_OF[i].agent : -1, (t, i) => '<td class="num">' + (SPAN_OF[i] ? dur(SPAN_OF[i].agent) : '–') + '</td>', 'num'],
    ['Total', (t, i) => SPAN_OF[i] ? SPAN_OF[i].end - SPAN_OF[i].start : -1,
      (t, i) => '<td class="num">' + (SPAN_OF[i] ? dur(SPAN_OF[i].end - SPAN_OF[i].start) : '–') + '</td>', 'num'],
    ['Footprint: predicted vs changed', (t) => (t.violations || []).length, (t) => '<td>' + footprintCell(t) + '</td>'],
  ];
  if (use.cost) cols.push(['Cost', (t) => t.usage ? t.usage.cost_usd ?? -1 : -1, (t) => '<td class="num">' + (t.usage && t.usage.cost_usd != null ? '$' + Number(t.usage.cost_usd).toFixed(4) : '') + '</td>', 'num']);
  if (use.tokens) cols.push(['Tokens in / out', (t) => t.usage ? (t.usage.input_tokens || 0) + (t.usage.output_tokens || 0) : -1, (t) => '<td class="num">' + (t.usage ? esc((t.usage.input_tokens ?? '–') + ' / ' + (t.usage.output_tokens ?? '–')) : '') + '</td>', 'num']);
  cols.push(
    ['Merge / branch', (t) => t.merge || t.branch, (t) => '<td>' + diffstatCell(t) + '</td>'],
    ['Summary', (t) => t.summary, (t) => '<td class="summary">' + esc(t.summary) + '</td>'],
    ['Inspect', () => 0, (t) => '<td>' + inspectCell(t) + '</td>'],
  );
  return cols;
}

const PLAN_OF = TASKS.map(() => null);
for (const p of D.planned || []) PLAN_OF[p[0]] = p;

function renderTasks() {
  const cols = taskColumns();
  const head = cols.map((c, k) => '<th data-col="' + k + '"' + (c[3] ? ' class="num"' : '') + '>' + esc(c[0]) + '</th>').join('');
  const body = TASKS.map((t, i) => '<tr data-i="' + i + '">' + cols.map((c) => c[2](t, i)).join('') + '</tr>').join('');
  document.getElementById('tasks-box').innerHTML = '<table class="data" id="tasks-table"><thead><tr>' + head + '</tr></thead><tbody>' + body + '</tbody></table>';
  TASK_ROWS = Array.from(document.querySelectorAll('#tasks-table tbody tr'));
  const hay = TASKS.map((t) => [t.id, t.agent, t.state, t.reason, t.summary, t.title, t.branch, t.merge,
    ...(t.predicted || []).map((p) => p[0]), ...(t.changed || [])].join(' ').toLowerCase());
  const states = [...new Set(TASKS.map(outcomeOf))].sort();
  const select = document.getElementById('task-state');
  select.innerHTML = '<option value="">every state</option>' + states.map((s) => '<option>' + esc(s) + '</option>').join('');
  const filter = () => {
    const q = document.getElementById('task-filter').value.trim().toLowerCase();
    const st = select.value;
    let shown = 0;
    TASK_ROWS.forEach((tr, i) => {
      const ok = (!q || hay[i].includes(q)) && (!st || outcomeOf(TASKS[i]) === st);
      tr.hidden = !ok;
      if (ok) shown++;
    });
    document.getElementById('task-count').textContent = shown + ' of ' + TASKS.length + ' tasks';
  };
  document.getElementById('task-filter').addEventListener('input', filter);
  select.addEventListener('change', filter);
  filter();
  let sortCol = -1, sortDir = 1;
  document.querySelector('#tasks-table thead').addEventListener('click', (ev) => {
    const th = ev.target.closest('th');
    if (!th) return;
    const k = Number(th.dataset.col);
    sortDir = k === sortCol ? -sortDir : 1;
    sortCol = k;
    const key = cols[k][1];
    const order = TASKS.map((t, i) => i).sort((a, b) => {
      const x = key(TASKS[a], a), y = key(TASKS[b], b);
      return (x < y ? -1 : x > y ? 1 : a - b) * sortDir;
    });
    const tbody = document.querySelector('#tasks-table tbody');
    const frag = document.createDocumentFragment();
    for (const i of order) frag.appendChild(TASK_ROWS[i]);
    tbody.appendChild(frag);
  });
}

function renderEvents() {
  const events = D.events || [];
  const rows = events.map(([at, ti, kind, msg]) => '<tr data-i="' + ti + '"><td class="time">+' + clock(at) + '</td><td class="task">' +
    (ti >= 0 ? esc(TASKS[ti].id) : '') + '</td><td class="kind"><span class="' + esc(kind) + '">' + esc(kind) + '</span></td><td class="msg">' + esc(msg) + '</td></tr>');
  document.getElementById('events-box').innerHTML = '<table class="data" id="events-table"><thead><tr><th>time</th><th>task</th><th>event</th><th>message</th></tr></thead><tbody>' + rows.join('') + '</tbody></table>';
  const trs = Array.from(document.querySelectorAll('#events-table tbody tr'));
  const hay = events.map(([, ti, kind, msg]) => ((ti >= 0 ? TASKS[ti].id : '') + ' ' + kind + ' ' + msg).toLowerCase());
  const kinds = [...new Set(events.map((e) => e[2]))].sort();
  const select = document.getElementById('event-kind');
  select.innerHTML = '<option value="">every kind</option>' + kinds.map((k) => '<option>' + esc(k) + '</option>').join('');
  const only = document.getElementById('event-selected');
  const filter = () => {
    const q = document.getElementById('event-filter').value.trim().toLowerCase();
    const kind = select.value;
    let shown = 0;
    trs.forEach((tr, n) => {
      const e = events[n];
      const ok = (!q || hay[n].includes(q)) && (!kind || e[2] === kind) && (!only.checked || SELECTED === null || e[1] === SELECTED);
      tr.hidden = !ok;
      if (ok) shown++;
    });
    document.getElementById('event-count').textContent = shown + ' of ' + events.length + ' events';
  };
  document.getElementById('event-filter').addEventListener('input', filter);
  select.addEventListener('change', filter);
  only.addEventListener('change', filter);
  filter();
  return filter;
}
