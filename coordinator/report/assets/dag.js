// The DAG, left to right by depth (positions come laid out from Python): dependency edges with
// arrows, conflict edges dashed, nodes coloured by outcome, the critical path outlined.
const DG = { nodeW: 172, nodeH: 26, colW: 226, rowH: 36, pad: 18, allConflicts: 150 };

function conflictEdge([a, b, paths]) {
  return '<path class="edge conflict" data-a="' + a + '" data-b="' + b + '" d="' + conflictPath(a, b) + '"><title>' +
    esc(TASKS[a].id + ' ⟷ ' + TASKS[b].id + ': ' + paths.join(', ')) + '</title></path>';
}

// With many conflicts only the selected task's are drawn: hundreds of dashed arcs hide the graph.
function showConflictsOf(i) {
  const group = document.getElementById('sel-conflicts');
  if (!group || D.dag.conflicts.length <= DG.allConflicts) return;
  group.innerHTML = i === null ? '' : D.dag.conflicts.filter((c) => c[0] === i || c[1] === i).map(conflictEdge).join('');
}

function nodeXY(i) {
  return [DG.pad + D.dag.col[i] * DG.colW, DG.pad + D.dag.row[i] * DG.rowH];
}

function depPath(a, b) {
  const [x1, y1] = nodeXY(a), [x2, y2] = nodeXY(b);
  const sx = x1 + DG.nodeW, sy = y1 + DG.nodeH / 2, ex = x2 - 2, ey = y2 + DG.nodeH / 2;
  const dx = Math.max(24, (ex - sx) / 2);
  return 'M' + sx + ' ' + sy + 'C' + (sx + dx) + ' ' + sy + ' ' + (ex - dx) + ' ' + ey + ' ' + ex + ' ' + ey;
}

function conflictPath(a, b) {
  let [x1, y1] = nodeXY(a), [x2, y2] = nodeXY(b);
  if (x1 > x2) [x1, y1, x2, y2] = [x2, y2, x1, y1];
  const h = DG.nodeH / 2;
  if (x1 === x2) {  // same column: an arc out to the right
    const bulge = DG.nodeW + 26 + Math.min(40, Math.abs(y2 - y1) / 6);
    return 'M' + (x1 + DG.nodeW) + ' ' + (y1 + h) + 'C' + (x1 + bulge) + ' ' + (y1 + h) + ' ' +
      (x2 + bulge) + ' ' + (y2 + h) + ' ' + (x2 + DG.nodeW) + ' ' + (y2 + h);
  }
  const sx = x1 + DG.nodeW, ex = x2, dx = Math.max(24, (ex - sx) / 2);
  return 'M' + sx + ' ' + (y1 + h) + 'C' + (sx + dx) + ' ' + (y1 + h) + ' ' + (ex - dx) + ' ' + (y2 + h) + ' ' + ex + ' ' + (y2 + h);
}

function renderDag() {
  const box = document.getElementById('dag-box');
  const dag = D.dag;
  const width = DG.pad * 2 + Math.max(1, dag.columns) * DG.colW - (DG.colW - DG.nodeW) + 40;
  const height = DG.pad * 2 + Math.max(1, dag.rows) * DG.rowH;
  const critical = new Set(dag.critical);
  const out = ['<svg xmlns="http://www.w3.org/2000/svg" id="dag-svg" width="' + width + '" height="' + height + '" role="img" aria-label="task graph">'];
  const marker = (id, fill) => '<marker id="' + id + '" viewBox="0 0 8 8" refX="7" refY="4" markerUnits="userSpaceOnUse"' +
    ' markerWidth="8" markerHeight="8" orient="auto"><path d="M0 0L8 4L0 8z" fill="' + fill + '"/></marker>';
  out.push('<defs>' + marker('arrow', '#a0a4b0') + marker('arrow-hl', '#111827') + '</defs>');
  for (const [a, b] of dag.deps) {
    out.push('<path class="edge" data-a="' + a + '" data-b="' + b + '" marker-end="url(#arrow)" d="' + depPath(a, b) + '"/>');
  }
  if (dag.conflicts.length <= DG.allConflicts) out.push(dag.conflicts.map(conflictEdge).join(''));
  out.push('<g id="sel-conflicts"></g>');
  TASKS.forEach((task, i) => {
    const [x, y] = nodeXY(i);
    const cls = 'o-' + outcomeOf(task);
    out.push('<g class="node' + (critical.has(i) ? ' critical' : '') + '" data-i="' + i + '">' +
      '<rect class="box" x="' + x + '" y="' + y + '" width="' + DG.nodeW + '" height="' + DG.nodeH + '" rx="5"/>' +
      '<rect class="' + cls + '" x="' + (x + 1) + '" y="' + (y + 1) + '" width="7" height="' + (DG.nodeH - 2) + '" rx="2"/>' +
      '<text x="' + (x + 14) + '" y="' + (y + 17) + '">' + esc(fit(task.id, DG.nodeW - 52, 6.7)) + '</text>' +
      '<text class="agent" text-anchor="end" x="' + (x + DG.nodeW - 6) + '" y="' + (y + 17) + '">' + esc(fit(task.agent, 52, 5.6)) + '</text></g>');
  });
  out.push('</svg>');
  box.innerHTML = out.join('');
}

function dagLegend() {
  const total = D.dag.conflicts_total;
  const more = D.dag.conflicts.length > DG.allConflicts ? ' (' + total + ' pairs: drawn for the selected task)' :
    total > D.dag.conflicts.length ? ' (' + D.dag.conflicts.length + ' of ' + total + ' drawn)' : '';
  return '<span><svg width="26" height="10"><path class="edge" d="M1 5H24"/></svg>depends on</span>' +
    '<span><svg width="26" height="10"><path class="edge conflict" d="M1 5H24"/></svg>conflict (never run together)' + esc(more) + '</span>' +
    '<span><svg width="22" height="14"><rect x="1" y="1" width="20" height="12" rx="3" fill="#fff" stroke="#374151" stroke-width="2.2"/></svg>critical path</span>';
}
