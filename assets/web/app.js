// The web view's script: sortable tables, the "only what differs" switch, the compare
// button, and the charts (uPlot). Served from this origin only; the pages carry no inline
// script, and chart data arrives as JSON in <script type="application/json">.
(function () {
  'use strict';

  // Sorting: a click on a heading sorts by its column; again reverses.
  document.querySelectorAll('table.sortable').forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      if (!th.dataset.type) return;
      th.classList.add('sort');
      th.tabIndex = 0;
      th.title = 'sort by ' + th.textContent;
      var go = function () { sortBy(table, col, th); };
      th.addEventListener('click', go);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); go(); } });
    });
  });

  function sortBy(table, col, th) {
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    var num = th.dataset.type === 'num';
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var key = function (row) {
      var v = row.cells[col].dataset.v;
      if (v === undefined) v = row.cells[col].textContent;
      if (!num) return v;
      var f = parseFloat(v);
      return isNaN(f) ? null : f;
    };
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === y) return 0;
      if (x === null || x === '') return 1; // empty cells last either way
      if (y === null || y === '') return -1;
      var r = num ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
      return asc ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  // "Only what differs": hides the columns or rows the server marked `same`.
  var differ = document.getElementById('only-differ');
  if (differ) {
    var target = document.getElementById(differ.dataset.table);
    var apply = function () {
      if (target) target.classList.toggle('only-differ', differ.checked);
      var url = new URL(window.location.href);
      if (differ.checked) url.searchParams.set('differ', '1'); else url.searchParams.delete('differ');
      window.history.replaceState(null, '', url.toString());
    };
    differ.addEventListener('change', apply);
    apply();
  }

  // "Compare selected": enabled for 2 to 8 ticked versions.
  var compareButton = document.getElementById('compare-selected');
  if (compareButton) {
    var picks = document.querySelectorAll('input[name="ref"]');
    var count = function () {
      var n = Array.prototype.filter.call(picks, function (p) { return p.checked; }).length;
      compareButton.disabled = n < 2 || n > 8;
      compareButton.textContent = n ? 'Compare selected (' + n + ')' : 'Compare selected';
    };
    Array.prototype.forEach.call(picks, function (p) { p.addEventListener('change', count); });
    count();
  }

  // Charts.
  var data = document.getElementById('chart-data');
  if (!data || !window.uPlot) return;
  var charts = JSON.parse(data.textContent);
  var palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
  var plots = [];
  var utc = function (ts) { return uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'); };
  var fmtTime = function (v) {
    if (v == null) return '—';
    return new Date(v * 1e3).toISOString().replace('T', ' ').replace(/\.000Z$/, 'Z').replace(/:00Z$/, 'Z');
  };
  var fmtNum = function (u, v) { return v == null ? '—' : (Math.abs(v) >= 1e6 || Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(3) : +v.toFixed(6)).toLocaleString(); };

  document.querySelectorAll('figure.chart').forEach(function (fig) {
    var c = charts[+fig.dataset.chart];
    if (!c) return;
    var tables = c.series.map(function (s) { return [s.x, s.y]; });
    var aligned = uPlot.join(tables);
    var el = fig.querySelector('.plot');
    var opts = {
      width: Math.max(320, el.clientWidth || fig.clientWidth || 800),
      height: 320,
      tzDate: utc,
      scales: { x: { time: !!c.time } },
      axes: [{ label: c.x_label }, { size: 70 }],
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      series: [{ label: c.x_label, value: c.time ? function (u, v) { return fmtTime(v); } : undefined }].concat(
        c.series.map(function (s, i) {
          return { label: s.label, stroke: palette[i % palette.length], width: 1.5, spanGaps: true, value: fmtNum, points: { show: false } };
        })
      )
    };
    var u = new uPlot(opts, aligned, el);
    fig.dataset.drawn = String(c.series.length);
    plots.push({ u: u, el: el });
  });

  var resized;
  window.addEventListener('resize', function () {
    clearTimeout(resized);
    resized = setTimeout(function () {
      plots.forEach(function (p) { p.u.setSize({ width: Math.max(320, p.el.clientWidth), height: 320 }); });
    }, 150);
  });
  document.body.dataset.chartsMs = String(Math.round(performance.now()));
  document.body.dataset.chartsDrawn = String(plots.length);
})();
