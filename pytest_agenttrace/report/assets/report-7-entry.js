  // The violations of a test, grouped by rule (in the order the rules first occur): each rule shows its
  // first VIOLATIONS_FIRST, then VIOLATIONS_MORE more per click, so 40,000 violations cost a few hundred
  // elements, not half a million.  Every one stays counted, flagged in the tree and reachable.
  var VIOLATIONS_FIRST = 20;
  var VIOLATIONS_MORE = 100;
  function violationGroups(M) {
    var groups = [], byRule = new Map();
    M.violations.forEach(function (v, vi) {
      var key = String(v.rule);
      var g = byRule.get(key);
      if (!g) { g = { rule: key, items: [], detector: false, cut: 0 }; byRule.set(key, g); groups.push(g); }
      g.items.push(vi);
      if (v.detector) g.detector = true;
      if (v.cut) g.cut++;
    });
    return groups;
  }
  function violationItem(list, M, vi, g, activate, reveal) {
    var v = M.violations[vi];
    var li = add(list, el('li', 'violation'));
    li.dataset.index = String(vi);
    var line = add(li, el('div'));
    if (v.detector) add(line, el('span', 'tag', 'detector'));
    add(line, el('span', 'rule', v.rule));
    if (v.cut) add(line, el('span', 'hint', 'text not kept: the report keeps the texts of the first ' + (g.items.length - g.cut) + ' violations of a rule'));
    else add(line, el('span', null, v.message));
    if (v.expected || v.found) add(li, el('div', 'ef', (v.expected ? 'expected: ' + v.expected : '') + (v.expected && v.found ? '  \u00b7  ' : '') + (v.found ? 'found: ' + v.found : '')));
    if (v.details && Object.keys(v.details).length) add(li, el('div', 'ef mono more', shortText(v.details, 300)));
    if (v.source) add(li, el('div', 'ef more', 'rule at ' + v.source));
    var refs = add(li, el('div', 'spans'));
    var chained = v.chain && v.chain.length;
    var ids = chained ? v.chain : v.spans || [];
    ids.slice(0, 50).forEach(function (id, k) {
      var j = M.idx.get(String(id));
      if (k) add(refs, el('span', 'arrow', chained ? '\u2192' : ''));
      var b = add(refs, el('button', 'spanref', j === undefined ? '#' + id + ' (missing)' : M.spans[j].kind + ':' + shortText(M.spans[j].name, 40) + ' #' + id));
      b.addEventListener('click', function (ev) { ev.stopPropagation(); activate(vi); if (j !== undefined) reveal(j); });
    });
    if (ids.length > 50) add(refs, el('span', 'hint', '\u2026 ' + (ids.length - 50) + ' more spans (highlighted when the violation is clicked)'));
    li.addEventListener('click', function () { activate(vi); });
    return li;
  }
  function renderViolations(list, M, activate, reveal) {
    violationGroups(M).forEach(function (g) {
      if (g.items.length === 1) { violationItem(list, M, g.items[0], g, activate, reveal); return; }
      var group = add(list, el('li', 'vgroup'));
      group.dataset.rule = g.rule;
      var head = add(group, el('div', 'vhead'));
      var tog = add(head, el('span', 'tog', '\u25be'));
      if (g.detector) add(head, el('span', 'tag', 'detector'));
      add(head, el('span', 'rule', g.rule));
      add(head, el('span', 'hint', counted(g.items.length, 'violation')));
      var items = add(group, el('ul', 'vitems'));
      var shown = 0, more = null;
      function showMore(n) {
        if (more) { more.remove(); more = null; }
        var end = Math.min(g.items.length, shown + n);
        for (; shown < end; shown++) violationItem(items, M, g.items[shown], g, activate, reveal);
        var left = g.items.length - shown;
        if (!left) return;
        more = add(items, el('li', 'vmore'));
        var b = add(more, el('button', 'link', 'show ' + Math.min(left, VIOLATIONS_MORE) + ' more (' + left + ' not shown)'));
        b.addEventListener('click', function (ev) { ev.stopPropagation(); showMore(VIOLATIONS_MORE); });
      }
      showMore(VIOLATIONS_FIRST);
      head.addEventListener('click', function () {
        var open = items.style.display === 'none';
        items.style.display = open ? '' : 'none';
        tog.textContent = open ? '\u25be' : '\u25b8';
      });
    });
  }

  // A test id as shown in the list and the header: at most NAME_CHARS characters, cut in the middle.
  var NAME_CHARS = 160;
  function testName(parent, tag, cls, name) {
    var shown = visible(name);
    var node = add(parent, el(tag, cls));
    node.textContent = cutMiddle(shown, NAME_CHARS);
    if (shown.length > NAME_CHARS) {
      setTitle(node, shown);
      node.dataset.full = shown;
      node.classList.add('cut');
    }
    return node;
  }

  // One test's view: header, violations, snapshot diff, timeline, tree and details wired together.
  function renderEntry(host, entry, number) {
    clear(host);
    var t0 = performance.now();
    var headPanel = add(host, el('section', 'panel'));
    var head = add(headPanel, el('div', 'entry-head'));
    add(head, el('span', 'badge o-' + entry.outcome, entry.outcome));
    // A very long test id (a parametrize id of thousands of characters) is cut in the middle; the whole
    // id is in the tooltip, and a click shows it in full (to select and copy it) or cuts it again.
    var title = testName(head, 'span', 'title', entry.name);
    if (title.dataset.full) {
      title.addEventListener('click', function () {
        var full = title.classList.toggle('full');
        title.textContent = full ? title.dataset.full : cutMiddle(title.dataset.full, NAME_CHARS);
      });
    }
    if (entry.duration !== null && entry.duration !== undefined) add(head, el('span', 'hint', 'test took ' + fmtDur(entry.duration * 1e9)));
    // A failure's message is red; a skip, xfail or xpass reason is a note.
    var failing = entry.outcome === 'failed' || entry.outcome === 'error';
    if (entry.message) add(headPanel, textBlock('pre', 'message' + (failing ? '' : ' note'), entry.message));
    if (entry.output) {
      var full = add(headPanel, el('details', 'output'));
      add(full, el('summary', 'hint', 'full pytest output'));
      add(full, textBlock('pre', 'message', entry.output));
    }
    if (entry.record === undefined || entry.record === null) {
      add(headPanel, el('div', 'panel-body hint', 'This test recorded no trace.'));
      return null;
    }
    var record = readJSON('agenttrace-record-' + entry.record);
    var M = buildModel(record);
    var tr = M.trace;
    var facts = add(head, el('span', 'hint', counted(M.n, 'span') + ' \u00b7 ' + counted(M.agentNames.filter(function (a) { return a !== null; }).length, 'agent') + ' \u00b7 ' + fmtDur(M.t1 - M.t0)));
    setTitle(facts, 'trace ' + (tr.trace_id || '') + ' started ' + (tr.started_at || ''));
    var versions = tr.versions || {};
    var changed = new Set();
    M.diffs.forEach(function (d) {
      var vcs = d.version_changes || [];
      if (!Array.isArray(vcs)) vcs = Object.keys(vcs);
      vcs.forEach(function (c) { changed.add(typeof c === 'string' ? c : String(c.key || c.name || '')); });
    });
    var keys = Object.keys(versions);
    if (keys.length) {
      var stamps = add(headPanel, el('div', 'stamps'));
      keys.forEach(function (k) {
        var isChanged = changed.has(k);
        var chip = add(stamps, el('span', 'stamp' + (isChanged ? ' changed' : ''), String(versions[k])));
        setTitle(chip, k + ' = ' + versions[k] + (isChanged ? ' (changed since the golden)' : ''));
      });
    }
    var meta = tr.metadata || {};
    if (meta.git_commit) add(head, el('span', 'hint', 'commit ' + meta.git_commit));

    var tree, timeline, details, current = -1;
    if (M.violations.length) {
      var vp = add(host, el('section', 'panel'));
      var vh = add(vp, el('h2', null, 'Violations (' + M.violations.length + ')'));
      add(vh, el('span', 'hint', 'click one to highlight its spans and chain'));
      renderViolations(add(vp, el('ul', 'violations')), M, activate, reveal);
    }
    // Snapshot mismatches: the changed version stamps lead ("prompt v3 -> v4" is often the whole
    // story); open at once unless violations already explain the failure.
    M.diffs.forEach(function (d) {
      var panel = add(host, el('details', 'panel snapshot'));
      panel.open = !M.violations.length;
      var changes = Array.isArray(d.version_changes) ? d.version_changes : [];
      add(panel, el('summary', null, 'Snapshot mismatch \u2014 ' + (changes.length ? changes.map(function (c) { return typeof c === 'string' ? c : c.text || c.key; }).join('; ') : 'no version stamp changed') + ' \u00b7 ' + (d.changes || []).length + ' change(s)'));
      renderDiff(panel, d);
    });
    function activate(vi) {
      var v = M.violations[vi];
      var set = new Set(), chain = [];
      (v.spans || []).concat(v.chain || []).forEach(function (id) { var j = M.idx.get(String(id)); if (j !== undefined) set.add(j); });
      (v.chain || []).forEach(function (id) { var j = M.idx.get(String(id)); if (j !== undefined) chain.push(j); });
      host.querySelectorAll('.violation.active').forEach(function (n) { n.classList.remove('active'); });
      var item = host.querySelector('.violation[data-index="' + vi + '"]');
      if (item) item.classList.add('active');
      tree.setHighlight(set);
      timeline.setHighlight(set, chain);
      var firstId = (v.spans && v.spans.length ? v.spans : v.chain || [])[0];
      var first = firstId === undefined ? undefined : M.idx.get(String(firstId));
      if (first !== undefined) reveal(first);
    }

    var tp = add(host, el('section', 'panel'));
    var th = add(tp, el('h2', null, 'Timeline'));
    add(th, el('span', 'hint', 'one lane per agent \u00b7 bands: delegation scopes \u00b7 arrows: handoffs and waits \u00b7 hover: lineage \u00b7 drag to pan, ctrl+wheel to zoom'));
    add(th, el('span', 'grow'));
    var tools = add(th, el('span', 'tl-tools'));
    var zin = add(tools, el('button', null, '+')), zout = add(tools, el('button', null, '\u2212')), zfit = add(tools, el('button', null, 'fit'));
    timeline = new Timeline(M, tp, function (i) { select(i, true, 'timeline'); });
    zin.addEventListener('click', function () { timeline.zoomAt((timeline.view0 + timeline.view1) / 2, 0.5); timeline.draw(); });
    zout.addEventListener('click', function () { timeline.zoomAt((timeline.view0 + timeline.view1) / 2, 2); timeline.draw(); });
    zfit.addEventListener('click', function () { timeline.fit(); });
    var legend = add(tp, el('div', 'legend'));
    Object.keys(KINDS).forEach(function (k) { add(legend, el('span', null, k)).style.setProperty('--c', KINDS[k].color); });
    add(legend, el('span', null, 'error')).style.setProperty('--c', ERROR_COLOR);

    var split = add(host, el('div', 'split'));
    var treePanel = add(split, el('section', 'panel'));
    var treeHead = add(treePanel, el('h2', null, 'Span tree'));
    add(treeHead, el('span', 'grow'));
    var bOpen = add(treeHead, el('button', null, 'expand all')), bClose = add(treeHead, el('button', null, 'collapse all'));
    var filters = add(treePanel, el('div', 'filters'));
    var search = add(filters, el('input'));
    search.type = 'search';
    search.placeholder = 'search text, or kind:tool agent:coder name:web* status:error';
    search.setAttribute('aria-label', 'search spans');
    function selectBox(label, values) {
      var s = add(filters, el('select'));
      s.setAttribute('aria-label', label);
      add(s, el('option', null, 'any ' + label)).value = '';
      values.forEach(function (v) { add(s, el('option', null, v)).value = v; });
      return s;
    }
    var kinds = [], statuses = [], seenK = {}, seenS = {};
    M.spans.forEach(function (s) {
      if (!seenK[s.kind]) { seenK[s.kind] = 1; kinds.push(String(s.kind)); }
      if (!seenS[s.status]) { seenS[s.status] = 1; statuses.push(String(s.status)); }
    });
    var fKind = selectBox('kind', kinds);
    var fAgent = selectBox('agent', M.agentNames.filter(function (a) { return a !== null; }).map(String));
    var fStatus = selectBox('status', statuses);
    // Selectors are evaluated in Python (agenttrace report --select): the page only filters by their results.
    var fSel = M.selections.length ? selectBox('selector', []) : null;
    if (fSel) M.selections.forEach(function (sel, k) { add(fSel, el('option', null, sel.selector + ' (' + sel.ids.size + ')')).value = String(k + 1); });
    var flaggedLabel = add(filters, el('label', 'count'));
    var fFlag = add(flaggedLabel, el('input'));
    fFlag.type = 'checkbox';
    add(flaggedLabel, document.createTextNode(' flagged'));
    var counter = add(filters, el('span', 'count', counted(M.n, 'span')));
    tree = new Tree(M, treePanel, function (i) { select(i, false, 'tree'); });
    var detailPanel = add(split, el('section', 'panel details'));
    add(detailPanel, el('h2', null, 'Span details'));
    details = add(detailPanel, el('div'));
    renderDetails(details, M, -1, reveal);

    var matchList = [], matchAt = -1;
    function applyFilter() {
      var f = { text: search.value, kind: fKind.value, agent: fAgent.value, status: fStatus.value, flagged: fFlag.checked, selection: fSel ? fSel.value : '' };
      var m;
      try { m = matcher(M, f); } catch (e) { counter.textContent = 'bad query'; return; }
      var count = tree.setFilter(m);
      matchList = []; matchAt = -1;
      if (m) {
        for (var r = 0; r < tree.visible.length; r++) if (tree.matches[tree.visible[r]] === 1) matchList.push(tree.visible[r]);
        counter.textContent = count + ' of ' + M.n + ' spans match';
      } else counter.textContent = counted(M.n, 'span');
    }
    var delayed = debounce(applyFilter, M.n > 20000 ? 250 : 120);
    search.addEventListener('input', delayed);
    search.addEventListener('keydown', function (ev) {
      if (ev.key !== 'Enter') return;
      applyFilter();
      if (!matchList.length) return;
      matchAt = (matchAt + (ev.shiftKey ? -1 : 1) + matchList.length) % matchList.length;
      select(matchList[matchAt], true, 'search');
    });
    [fKind, fAgent, fStatus, fFlag, fSel].forEach(function (c) { if (c) c.addEventListener('change', applyFilter); });
    bOpen.addEventListener('click', function () { tree.setAll(true); });
    bClose.addEventListener('click', function () { tree.setAll(false); });

    function select(i, revealTree, from) {
      current = i;
      tree.select(i, revealTree || from !== 'tree');
      timeline.select(i);
      if (from !== 'timeline') timeline.reveal(i);
      renderDetails(details, M, i, reveal);
    }
    function reveal(i) { select(i, true, 'link'); }
    var api = window.agenttrace;
    api.view = { model: M, tree: tree, timeline: timeline, select: function (id) { var j = M.idx.get(String(id)); if (j !== undefined) reveal(j); }, activate: activate, buildMs: performance.now() - t0 };
    void current; void number;
    // Open on the first violation so the cause is in view at once; without one, on the first failed span.
    if (M.violations.length) activate(0);
    else if (entry.outcome === 'failed' || entry.outcome === 'error') {
      for (var e = 0; e < M.n; e++) if (M.spans[e].status === 'error') { reveal(e); break; }
    }
    return api.view;
  }
