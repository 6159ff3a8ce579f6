// The Gantt chart: the real run (one lane per slot, a bar per attempt, its phases drawn in it)
// above the planned schedule, on one time axis. Built as one SVG string: linear in bars.
const TL = { zoom: 1, labelW: 92, laneH: 26, barH: 18, planH: IS_RUN ? 20 : 26, planBarH: IS_RUN ? 13 : 18 };

function niceStep(pxPerSec) {
  const steps = [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400];
  for (const s of steps) if (s * pxPerSec >= 80) return s;
  return steps[steps.length - 1];
}

function tickLabel(t, step) {
  if (step < 1) return t.toFixed(step < 0.1 ? 2 : 1) + 's';
  if (t < 60 || step < 60 && t < 600) return Math.round(t) + 's';
  const m = Math.floor(t / 60), s = Math.round(t - m * 60);
  if (m < 60) return s ? m + 'm' + String(s).padStart(2, '0') : m + 'm';
  return Math.floor(m / 60) + 'h' + String(m % 60).padStart(2, '0');
}

function renderTimeline() {
  const box = document.getElementById('timeline-box');
  const stats = D.stats;
  const bars = D.bars || [];
  const planned = D.planned || [];
  let maxT = Math.max(stats.makespan || 0, stats.planned_makespan || 0, 0.001);
  for (const b of bars) maxT = Math.max(maxT, b[4]);
  const avail = Math.max(320, box.clientWidth - TL.labelW - 24);
  const pps = (avail / maxT) * TL.zoom;
  const width = TL.labelW + maxT * pps + 24;
  const x = (t) => TL.labelW + t * pps;
  const lanes = IS_RUN ? Math.max(D.lanes || 0, 1) : 0;
  const planLanes = planned.reduce((m, p) => Math.max(m, p[1] + 1), 0);
  const top = 26;
  const realTop = top + 20;
  const mergeLanes = IS_RUN ? D.merge_lanes || 0 : 0;
  const mergeTop = realTop + lanes * TL.laneH;
  const planTop = IS_RUN ? mergeTop + mergeLanes * TL.laneH + 26 : top + 20;
  const height = planTop + (planLanes ? planLanes * TL.planH : 0) + 10;
  const out = [];
  out.push('<svg xmlns="http://www.w3.org/2000/svg" id="timeline-svg" width="' + width.toFixed(0) +
    '" height="' + height + '" role="img" aria-label="timeline">');
  const step = niceStep(pps);
  for (let t = 0; t <= maxT + 1e-9; t += step) {
    out.push('<line class="grid" x1="' + x(t) + '" x2="' + x(t) + '" y1="' + (top - 6) + '" y2="' + height + '"/>');
    out.push('<text class="tick" x="' + (x(t) + 3) + '" y="' + (top - 10) + '">' + tickLabel(t, step) + '</text>');
  }
  if (IS_RUN) {
    out.push('<text class="group-label" x="6" y="' + (realTop - 6) + '">REAL RUN</text>');
    for (let l = 0; l < lanes; l++) {
      const y = realTop + l * TL.laneH;
      if (l % 2 === 0) out.push('<rect x="0" y="' + y + '" width="' + width + '" height="' + TL.laneH + '" fill="#f7f8fa"/>');
      out.push('<text class="lane-label" x="10" y="' + (y + TL.laneH / 2 + 4) + '">slot ' + (l + 1) + '</text>');
    }
    // What follows each agent (collect, gate, merge) is the coordinator's work, done while the
    // slot may already hold the next task: it has lanes of its own, under the slots.
    for (let l = 0; l < mergeLanes; l++) {
      const y = mergeTop + l * TL.laneH;
      out.push('<rect x="0" y="' + y + '" width="' + width + '" height="' + TL.laneH + '" fill="#eef2f8"/>');
      out.push('<text class="lane-label" x="10" y="' + (y + TL.laneH / 2 + 4) + '">merging' + (mergeLanes > 1 ? ' ' + (l + 1) : '') + '</text>');
    }
    const tails = [];
    tails.labels = [];
    const pad = (TL.laneH - TL.barH) / 2;
    for (const b of bars) out.push(realBar(b, x, pps, realTop + b[2] * TL.laneH + pad, mergeTop + b[8] * TL.laneH + pad, tails));
    out.push(tails.join(''), tails.labels.join(''));
    if (stats.makespan) {
      const ex = x(stats.makespan);
      out.push('<line x1="' + ex + '" x2="' + ex + '" y1="' + (realTop - 4) + '" y2="' + (mergeTop + mergeLanes * TL.laneH) +
        '" stroke="#111827" stroke-dasharray="3 3"><title>the run ended</title></line>');
    }
  }
  if (planLanes) {
    const basis = stats.planned_basis === 'measured' ? 'PLANNED (policy on measured times)' : 'PLANNED (from estimates)';
    out.push('<text class="group-label" x="6" y="' + (planTop - 6) + '">' + basis + '</text>');
    for (let l = 0; l < planLanes; l++) {
      const y = planTop + l * TL.planH;
      out.push('<text class="lane-label" x="10" y="' + (y + TL.planH / 2 + 4) + '">slot ' + (l + 1) + '</text>');
    }
    for (const p of planned) {
      const bx = x(p[2]), bw = Math.max(2, (p[3] - p[2]) * pps - 1);
      const y = planTop + p[1] * TL.planH + (TL.planH - TL.planBarH) / 2;
      const label = fit(TASKS[p[0]].id, bw, IS_RUN ? 6.2 : 6.4);
      out.push('<g class="bar planned" data-i="' + p[0] + '" data-k="p"><rect class="o-planned" x="' + bx + '" y="' + y + '" width="' + bw +
        '" height="' + TL.planBarH + '" rx="2"/>' + (label ? '<text x="' + (bx + 4) + '" y="' + (y + TL.planBarH - (IS_RUN ? 3 : 5)) + '">' + esc(label) + '</text>' : '') +
        '<rect class="frame" x="' + bx + '" y="' + y + '" width="' + bw + '" height="' + TL.planBarH + '" rx="2"/></g>');
    }
  }
  out.push('</svg>');
  box.innerHTML = out.join('');
}

function realBar(b, x, pps, y, tailY, tails) {
  const [ti, attempt, , start, , outcome, , phases] = b;
  const cls = 'o-' + outcome;
  let agentX = x(start), agentW = 0, bodyEnd = start, tailStart = null, tailEnd = null;
  const body = [], tail = [];
  for (const [name, s, e] of phases) {
    const px = x(s);
    const pw = Math.max(name === 'agent' ? 2 : 3, (e - s) * pps);
    if (name === 'agent') { agentX = px; agentW = pw; }
    if (name === 'worktree' || name === 'agent') {
      body.push(phaseRect(name, cls, px, y, pw));
      bodyEnd = Math.max(bodyEnd, e);
    } else {
      tail.push(phaseRect(name, cls, px, tailY, pw));
      tailStart = tailStart === null ? s : Math.min(tailStart, s);
      tailEnd = tailEnd === null ? e : Math.max(tailEnd, e);
    }
  }
  const bx = x(start), bw = Math.max(2, x(bodyEnd) - bx);
  const g = '<g class="bar" data-i="' + ti + '" data-a="' + attempt + '">';
  const label = fit(TASKS[ti].id + (attempt > 1 ? ' #' + attempt : ''), agentW, 6.4);
  if (label) tails.labels.push('<text class="bar-label" x="' + (agentX + 4) + '" y="' + (y + TL.barH - 5) + '">' + esc(label) + '</text>');
  body.push('<rect class="frame" x="' + bx + '" y="' + y + '" width="' + bw + '" height="' + TL.barH + '" rx="2"/>');
  if (tail.length && b[8] >= 0) {
    const tw = Math.max(3, x(tailEnd) - x(tailStart));
    tails.push(g + tail.join('') + '<rect class="frame" x="' + x(tailStart) + '" y="' + tailY + '" width="' + tw + '" height="' + TL.barH + '"/></g>');
  }
  return g + body.join('') + '</g>';
}

function phaseRect(name, cls, px, y, pw) {
  const base = '<rect class="' + cls + '" x="' + px + '" y="' + y + '" width="' + pw + '" height="' + TL.barH + '"';
  if (name === 'agent') return base + ' rx="2"/>';
  if (name === 'worktree') return base + ' opacity=".45"/>';
  const over = { collect: 'url(#p-hatch)', gate: 'url(#p-dots)', merge: 'rgba(0,0,0,.45)' }[name];
  return base + '/><rect x="' + px + '" y="' + y + '" width="' + pw + '" height="' + TL.barH + '" fill="' + over + '"/>';
}

// Patterns live in their own hidden SVG so that redrawing the chart (zoom) keeps them.
function patternDefs() {
  return '<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>' +
    '<pattern id="p-hatch" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">' +
    '<rect width="2" height="5" fill="rgba(255,255,255,.75)"/></pattern>' +
    '<pattern id="p-dots" width="4" height="4" patternUnits="userSpaceOnUse">' +
    '<circle cx="2" cy="2" r="1.1" fill="rgba(0,0,0,.55)"/></pattern></defs></svg>';
}

function legendSwatch(cls, phase) {
  const svg = ['<svg width="22" height="12">'];
  svg.push(phase ? phaseRect(phase, cls, 0, 0, 22).replace(/height="18"/g, 'height="12"') :
    '<rect class="' + cls + '" width="22" height="12" rx="2"/>');
  svg.push('</svg>');
  return svg.join('');
}

function timelineLegend() {
  const parts = [];
  const outcomes = IS_RUN ? ['merged', 'failed', 'conflict', 'cancelled', 'tampered', 'running'] : ['planned'];
  for (const o of outcomes) parts.push('<span>' + legendSwatch('o-' + o) + o + '</span>');
  if (IS_RUN) {
    for (const p of ['worktree', 'agent', 'collect', 'gate', 'merge']) {
      parts.push('<span>' + legendSwatch('o-merged', p) + p + '</span>');
    }
  }
  return parts.join('');
}

function notRunChips() {
  const chips = [];
  TASKS.forEach((task, i) => {
    if (SPAN_OF[i]) return;
    chips.push('<span class="chip" data-i="' + i + '">' + esc(task.id) + ' <span class="why">' +
      esc(task.state) + (task.reason ? ': ' + esc(task.reason) : '') + '</span></span>');
  });
  if (chips.length <= 12) return chips.length ? '<b>not started:</b> ' + chips.join('') : '';
  return '<details><summary><b>' + chips.length + ' tasks did not start</b> (skipped after a failed dependency,' +
    ' or cancelled)</summary><div class="chips">' + chips.join('') + '</div></details>';
}

function zoomTimeline(factor) {
  TL.zoom = factor === 0 ? 1 : Math.min(64, Math.max(1, TL.zoom * factor));
  const box = document.getElementById('timeline-box');
  const centre = (box.scrollLeft + box.clientWidth / 2) / Math.max(1, box.scrollWidth);
  renderTimeline();
  box.scrollLeft = centre * box.scrollWidth - box.clientWidth / 2;
  if (SELECTED !== null) markSelected(SELECTED);
}
