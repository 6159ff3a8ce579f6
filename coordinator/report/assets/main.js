// The page: header, figures, and one selection shared by the timeline, the DAG, the table and
// the event log (a click anywhere selects the task everywhere; Escape clears it).
let SELECTED = null;
let refilterEvents = null;

function renderHeader() {
  const top = document.getElementById('top');
  if (IS_RUN) {
    const r = D.run;
    top.innerHTML = '<h1>coordinator run <span class="id">' + esc(r.id) + '</span></h1>' +
      '<span class="badge ' + esc(r.state) + '">' + esc(r.state) + '</span>' +
      '<span class="meta">target <b>' + esc(r.target) + '</b> from <b class="mono">' + esc(short(r.base)) + '</b>' +
      ' · started <b>' + esc(when(r.started_at)) + '</b> · ' + esc(r.instances) + ' instances' +
      ' · report of ' + esc(when(D.generated_at)) + '</span>';
  } else {
    top.innerHTML = '<h1>coordinator plan</h1><span class="meta"><b>' + TASKS.length + '</b> tasks · <b>' +
      D.dag.conflicts_total + '</b> conflicts · ' + esc(D.stats.instances) + ' instances · nothing has run yet</span>';
  }
}

function stat(value, label, sub, extra) {
  return '<div class="stat"><div class="v">' + value + '</div><div class="l">' + esc(label) + '</div>' +
    (sub ? '<div class="s">' + esc(sub) + '</div>' : '') + (extra || '') + '</div>';
}

function renderStats() {
  const s = D.stats;
  const cards = [];
  const planSpeed = s.planned_makespan ? s.planned_sequential / s.planned_makespan : null;
  const basis = s.planned_basis === 'measured' ? 'the policy on the measured times' : 'simulated from the estimates';
  if (IS_RUN) {
    const counts = {};
    for (const t of TASKS) counts[outcomeOf(t)] = (counts[outcomeOf(t)] || 0) + 1;
    const badges = Object.keys(counts).sort().map((k) => '<span class="badge ' + esc(k) + '">' + counts[k] + ' ' + esc(k) + '</span>').join('');
    cards.push(stat(esc(TASKS.length), 'tasks', '', '<div class="counts">' + badges + '</div>'));
    cards.push(stat(dur(s.makespan), 'makespan', 'wall clock of the run'));
    cards.push(stat(dur(s.work), 'sum of work', 'agent time of every attempt'));
    cards.push(stat(s.speedup ? s.speedup.toFixed(2) + '×' : '–', 'speedup', 'work / makespan, ' + s.instances + ' slots'));
    const ratio = s.lower_bound ? ' (makespan ' + (s.makespan / s.lower_bound).toFixed(2) + '× of it)' : '';
    cards.push(stat(dur(s.lower_bound), 'lower bound', 'no schedule of these times beats it' + ratio));
    if (s.planned_makespan !== null) cards.push(stat(dur(s.planned_makespan), 'planned makespan', basis + (planSpeed ? ', speedup ' + planSpeed.toFixed(2) + '×' : '')));
  } else {
    cards.push(stat(esc(TASKS.length), 'tasks', D.dag.conflicts_total + (D.dag.conflicts_total === 1 ? ' conflicting pair' : ' conflicting pairs')));
    cards.push(stat(dur(s.planned_makespan), 'makespan', basis));
    cards.push(stat(dur(s.planned_sequential), 'sum of work', 'one task after another'));
    cards.push(stat(planSpeed ? planSpeed.toFixed(2) + '×' : '–', 'speedup', 'on ' + s.instances + ' slots'));
    cards.push(stat(dur(s.planned_lower_bound), 'lower bound', 'no schedule beats it'));
    cards.push(stat(dur(s.critical_length), 'critical path', D.dag.critical.map((i) => TASKS[i].id).join(' → ')));
  }
  document.getElementById('stats').innerHTML = cards.join('');
  const notes = (IS_RUN ? D.run.notes : D.warnings) || [];
  document.getElementById('notes').innerHTML = notes.length ?
    '<section class="card"><ul class="notes">' + notes.map((n) => '<li>' + esc(n) + '</li>').join('') + '</ul></section>' : '';
}

function markSelected(i) {
  showConflictsOf(i);
  for (const el of document.querySelectorAll('.sel')) el.classList.remove('sel');
  for (const el of document.querySelectorAll('.edge.hl')) el.classList.remove('hl');
  for (const el of document.querySelectorAll('tr.selected')) { el.classList.remove('selected'); el.removeAttribute('aria-selected'); }
  if (i === null) return;
  const q = '[data-i="' + i + '"]';
  for (const el of document.querySelectorAll('#timeline-box .bar' + q + ', #dag-box .node' + q + ', .chip' + q)) el.classList.add('sel');
  for (const el of document.querySelectorAll('#dag-box .edge[data-a="' + i + '"], #dag-box .edge[data-b="' + i + '"]')) el.classList.add('hl');
  const row = TASK_ROWS[i];
  row.classList.add('selected');
  row.setAttribute('aria-selected', 'true');
}

function select(i, from) {
  SELECTED = i;
  markSelected(i);
  if (i === null) { document.getElementById('detail').hidden = true; if (refilterEvents) refilterEvents(); return; }
  if (from !== 'table') reveal(document.getElementById('tasks-box'), TASK_ROWS[i]);
  if (from !== 'dag') reveal(document.getElementById('dag-box'), document.querySelector('#dag-box .node[data-i="' + i + '"]'));
  if (from !== 'timeline') reveal(document.getElementById('timeline-box'), document.querySelector('#timeline-box .bar[data-i="' + i + '"]'));
  showDetail(i);
  if (refilterEvents) refilterEvents();
  try { history.replaceState(null, '', '#task=' + encodeURIComponent(TASKS[i].id)); } catch (e) { /* file: URLs may refuse */ }
}

function showDetail(i) {
  const t = TASKS[i];
  const span = SPAN_OF[i];
  const rows = [];
  const add = (k, v) => { if (v !== '' && v !== null && v !== undefined) rows.push('<tr><td class="k">' + esc(k) + '</td><td>' + v + '</td></tr>'); };
  add('agent', esc(t.agent));
  if (IS_RUN) {
    add('node', t.node ? esc(t.node) : '');
    add('state', '<span class="badge ' + esc(outcomeOf(t)) + '">' + esc(outcomeOf(t)) + '</span>');
    add('reason', t.reason ? esc(t.reason) : '');
    add('tries', t.attempts || '');
    if (span) add('time', esc(dur(span.agent) + ' agent, ' + dur(span.end - span.start) + ' in all, from +' + dur(span.start)));
    add('merge', t.merge ? '<code>' + esc(short(t.merge)) + '</code>' : '');
    add('summary', esc(t.summary));
  } else {
    add('depends on', esc(t.depends_on.join(', ')));
    add('estimate', t.estimate == null ? '' : esc(dur(t.estimate)));
    if (PLAN_OF[i]) add('planned', esc('slot ' + (PLAN_OF[i][1] + 1) + ', ' + dur(PLAN_OF[i][2]) + ' → ' + dur(PLAN_OF[i][3])));
  }
  document.getElementById('detail-body').innerHTML = '<div class="d-id">' + esc(t.id) + '</div>' +
    (t.title ? '<div class="d-title">' + esc(t.title) + '</div>' : '') + '<table>' + rows.join('') + '</table>';
  document.getElementById('detail').hidden = false;
}

function tipFor(el) {
  const i = Number(el.dataset.i);
  const t = TASKS[i];
  let html = '<b>' + esc(t.id) + '</b> <span class="k">' + esc(t.agent) + '</span>';
  if (el.classList.contains('bar') && el.dataset.k === 'p') {
    const p = PLAN_OF[i];
    return html + '<br>planned on slot ' + (p[1] + 1) + ': ' + esc(dur(p[2])) + ' → ' + esc(dur(p[3])) + ' (' + esc(dur(p[3] - p[2])) + ')';
  }
  if (el.classList.contains('bar')) {
    const a = Number(el.dataset.a);
    const bar = BARS_OF[i].find((b) => b[1] === a);
    html += '<br>attempt ' + a + ': <b>' + esc(bar[5]) + '</b>' + (bar[6] ? ' <span class="k">(' + esc(bar[6]) + ')</span>' : '');
    html += '<table>' + bar[7].map(([n, s, e]) => '<tr><td class="k">' + esc(n) + '</td><td>' + esc(dur(e - s)) + '</td><td class="k">+' + esc(clock(s)) + '</td></tr>').join('') + '</table>';
    return html;
  }
  html += '<br>' + esc(IS_RUN ? outcomeOf(t) : 'planned');
  if (t.depends_on && t.depends_on.length) html += '<br><span class="k">after</span> ' + esc(t.depends_on.join(', '));
  if (t.reason) html += '<br><span class="k">' + esc(t.reason) + '</span>';
  return html;
}

function wire() {
  const tip = document.getElementById('tip');
  document.addEventListener('mouseover', (ev) => {
    const el = ev.target.closest && ev.target.closest('#timeline-box [data-i], #dag-box .node');
    if (!el) { tip.style.display = 'none'; return; }
    tip.innerHTML = tipFor(el);
    tip.style.display = 'block';
  });
  document.addEventListener('mousemove', (ev) => {
    if (tip.style.display !== 'block') return;
    const w = tip.offsetWidth, h = tip.offsetHeight;
    tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - w - 8) + 'px';
    tip.style.top = (ev.clientY + 16 + h > window.innerHeight ? ev.clientY - h - 10 : ev.clientY + 16) + 'px';
  });
  document.addEventListener('click', (ev) => {
    const t = ev.target;
    if (t.closest('#detail-close')) { select(null); return; }
    if (t.closest('#detail-row') && SELECTED !== null) { TASK_ROWS[SELECTED].scrollIntoView({ block: 'center' }); return; }
    const hit = t.closest('#timeline-box [data-i], #notrun .chip, #dag-box .node, #tasks-table tbody tr, #events-table td.task');
    if (!hit) return;
    const i = Number(hit.dataset.i !== undefined ? hit.dataset.i : hit.parentElement.dataset.i);
    if (!(i >= 0)) return;
    const from = hit.closest('#dag-box') ? 'dag' : hit.closest('#tasks-table') ? 'table' : hit.closest('#timeline-box, #notrun') ? 'timeline' : 'log';
    select(i, from);
  });
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') select(null); });
  document.getElementById('zoom-in').addEventListener('click', () => zoomTimeline(2));
  document.getElementById('zoom-out').addEventListener('click', () => zoomTimeline(0.5));
  document.getElementById('zoom-fit').addEventListener('click', () => zoomTimeline(0));
  let resizing = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => { renderTimeline(); if (SELECTED !== null) markSelected(SELECTED); }, 150);
  });
}

function main() {
  const started = performance.now();
  document.body.insertAdjacentHTML('beforeend', patternDefs());
  renderHeader();
  renderStats();
  document.getElementById('tl-legend').innerHTML = timelineLegend();
  document.getElementById('dag-legend').innerHTML = dagLegend();
  renderTimeline();
  if (IS_RUN) document.getElementById('notrun').innerHTML = notRunChips();
  renderDag();
  renderTasks();
  if (IS_RUN) refilterEvents = renderEvents();
  wire();
  const m = /#task=([^&]+)/.exec(location.hash);
  if (m) {
    const i = TASKS.findIndex((t) => t.id === decodeURIComponent(m[1]));
    if (i >= 0) select(i, 'hash');
  }
  window.reportRenderMs = performance.now() - started;
  document.documentElement.setAttribute('data-ready', '1');
}

main();
