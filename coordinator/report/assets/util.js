// Shared helpers. Everything the data holds is text from agents and specs: it reaches the page
// only through esc() (or textContent), never as markup.
const D = JSON.parse(document.getElementById('report-data').textContent);
const TASKS = D.tasks;
const IS_RUN = D.kind === 'run';
const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function esc(value) {
  return String(value === null || value === undefined ? '' : value).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

function dur(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '–';
  const s = Math.max(0, seconds);
  if (s === 0) return '0 s';
  if (s < 1) return Math.round(s * 1000) + ' ms';
  if (s < 10) return s.toFixed(2).replace(/\.?0+$/, '') + ' s';
  if (s < 60) return s.toFixed(1).replace(/\.0$/, '') + ' s';
  const m = Math.floor(s / 60);
  if (m < 60) return m + 'm ' + String(Math.round(s - m * 60)).padStart(2, '0') + 's';
  const h = Math.floor(m / 60);
  return h + 'h ' + String(m - h * 60).padStart(2, '0') + 'm';
}

function clock(seconds) {
  const s = Math.max(0, seconds);
  const m = Math.floor(s / 60);
  return (m ? m + ':' + String(Math.floor(s - m * 60)).padStart(2, '0') : Math.floor(s)) +
    '.' + String(Math.round((s % 1) * 1000) % 1000).padStart(3, '0');
}

function when(epoch) {
  if (!epoch) return '–';
  const d = new Date(epoch * 1000);
  const pad = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
    pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}

function outcomeOf(task) {
  if (!IS_RUN) return 'planned';
  if (task.state === 'failed' && /^tampered/.test(task.reason || '')) return 'tampered';
  if (task.state === 'pending' && task.attempts === 0) return 'pending';
  return task.state;
}

function fit(text, width, charWidth) {
  const room = Math.floor((width - 8) / charWidth);
  if (room < 3) return '';
  return text.length <= room ? text : text.slice(0, room - 1) + '…';
}

function short(sha) { return sha ? sha.slice(0, 12) : ''; }

// The box scrolls (not the page) so the element shows, when it is out of sight.
function reveal(box, el) {
  if (!box || !el) return;
  const b = box.getBoundingClientRect();
  const r = el.getBoundingClientRect();
  if (r.top < b.top + 28) box.scrollTop += r.top - b.top - 40;
  else if (r.bottom > b.bottom) box.scrollTop += r.bottom - b.bottom + 12;
  if (r.left < b.left) box.scrollLeft += r.left - b.left - 40;
  else if (r.right > b.right) box.scrollLeft += r.right - b.right + 40;
}

// Per task: its bars (attempts) and the span they cover, built once.
const BARS_OF = TASKS.map(() => []);
for (const bar of D.bars || []) BARS_OF[bar[0]].push(bar);
const SPAN_OF = BARS_OF.map((bars) => {
  if (!bars.length) return null;
  let start = Infinity, end = -Infinity, agent = 0;
  for (const b of bars) {
    start = Math.min(start, b[3]); end = Math.max(end, b[4]);
    for (const p of b[7]) if (p[0] === 'agent') agent += p[2] - p[1];
  }
  return { start, end, agent };
});
