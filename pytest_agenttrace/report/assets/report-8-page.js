  // The page: the test list, routing by #tN, start-up and the readiness flag tests wait for.
  function main() {
    var index = readJSON('agenttrace-index') || { entries: [] };
    var entries = index.entries || [];
    var app = document.getElementById('app');
    clear(app);
    var top = add(app, el('header', 'top'));
    add(top, el('h1', null, index.title || 'agenttrace report'));
    var counts = {};
    entries.forEach(function (e) { counts[e.outcome] = (counts[e.outcome] || 0) + 1; });
    var pills = add(top, el('div', 'pills'));
    ['failed', 'error', 'passed', 'xfailed', 'xpassed', 'skipped', 'unknown'].forEach(function (o) {
      if (counts[o]) add(pills, el('span', 'pill ' + o, counts[o] + ' ' + (o === 'unknown' ? 'traces' : o)));
    });
    add(top, el('span', 'meta', (index.tool || '') + ' \u00b7 ' + (index.generated_at || '')));
    var mainEl = add(app, el('main'));
    var testsPanel = add(mainEl, el('section', 'panel'));
    var tH = add(testsPanel, el('h2', null, 'Tests (' + entries.length + ')'));
    add(tH, el('span', 'grow'));
    var onlyFailedLabel = add(tH, el('label', 'hint'));
    var onlyFailed = add(onlyFailedLabel, el('input'));
    onlyFailed.type = 'checkbox';
    add(onlyFailedLabel, document.createTextNode(' failures only'));
    var box = add(testsPanel, el('div', 'tests'));
    var table = add(box, el('table'));
    var view = add(mainEl, el('div'));
    view.id = 'entry';
    var rows = [];
    var order = entries.map(function (e, i) { return i; });
    var bad = { failed: 0, error: 0, xpassed: 1 };
    order.sort(function (a, b) {
      var ra = bad[entries[a].outcome] !== undefined ? bad[entries[a].outcome] : 2;
      var rb = bad[entries[b].outcome] !== undefined ? bad[entries[b].outcome] : 2;
      return ra - rb || a - b;
    });
    order.forEach(function (i) {
      var e = entries[i], sm = e.summary || {};
      var tr = add(table, el('tr', 'test o-row-' + e.outcome));
      tr.dataset.index = String(i);
      add(add(tr, el('td')), el('span', 'badge o-' + e.outcome, e.outcome));
      testName(tr, 'td', 'name', e.name);
      add(tr, el('td', 'num', sm.spans !== undefined ? counted(sm.spans, 'span') : 'no trace'));
      add(tr, el('td', 'num' + (sm.violations ? ' bad' : ''), sm.violations ? counted(sm.violations, 'violation') : ''));
      add(tr, el('td', 'num' + (sm.snapshot_diffs ? ' bad' : ''), sm.snapshot_diffs ? 'snapshot differs' : ''));
      add(tr, el('td', 'num', e.duration !== null && e.duration !== undefined ? fmtDur(e.duration * 1e9) : ''));
      tr.addEventListener('click', function () { show(i); });
      rows[i] = tr;
    });
    onlyFailed.addEventListener('change', function () {
      rows.forEach(function (tr, i) {
        var o = entries[i].outcome;
        tr.style.display = onlyFailed.checked && !(o === 'failed' || o === 'error' || o === 'xpassed') ? 'none' : '';
      });
    });
    var shown = -1;
    function show(i) {
      shown = i;
      rows.forEach(function (tr) { tr.classList.remove('current'); });
      if (rows[i]) rows[i].classList.add('current');
      if (location.hash !== '#t' + i) history.replaceState(null, '', '#t' + i);
      renderEntry(view, entries[i], i);
    }
    window.agenttrace.show = show;
    // A link to another test of the same page (#t3), or the address edited by hand, opens that test.
    window.addEventListener('hashchange', function () {
      var m = /^#t(\d+)$/.exec(location.hash);
      if (m && entries[+m[1]] && +m[1] !== shown) show(+m[1]);
    });
    if (!entries.length) {
      add(view, el('section', 'panel')).appendChild(el('div', 'panel-body hint', 'No recorded tests in this session.'));
    } else {
      var fromHash = /^#t(\d+)$/.exec(location.hash);
      var start = fromHash && entries[+fromHash[1]] ? +fromHash[1] : order[0];
      show(start);
    }
  }

  window.agenttrace = { ready: false, tti: null, errors: [], fmtDur: fmtDur, visible: visible, shortText: shortText };
  window.addEventListener('error', function (ev) { window.agenttrace.errors.push(String(ev.message)); });
  try {
    main();
  } finally {
    requestAnimationFrame(function () {
      window.agenttrace.ready = true;
      window.agenttrace.tti = performance.now();
      document.documentElement.dataset.ready = '1';
    });
  }
