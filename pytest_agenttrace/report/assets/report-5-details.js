  // The details panel of the selected span.
  function renderDetails(host, M, i, reveal) {
    clear(host);
    if (i < 0) { add(host, el('div', 'empty', 'Click a span in the tree or on the timeline to see its input, output, attributes, events and errors.')); return; }
    var s = M.spans[i], kind = kindOf(s.kind);
    var body = add(host, el('div', 'panel-body'));
    var head = add(body, el('div', 'head'));
    var chip = add(head, el('span', 'kchip', KINDS[kind].label));
    chip.style.setProperty('--c', s.status !== 'ok' ? ERROR_COLOR : KINDS[kind].color);
    add(head, el('span', 'name', s.name));
    add(head, el('span', 'hint', s.kind + ' \u00b7 span ' + s.span_id));
    var flags = M.flags.get(i);
    if (flags) {
      add(body, el('h3', null, 'Flagged by'));
      flags.slice(0, 20).forEach(function (v) {
        var viol = M.violations[v];
        var box = add(body, el('div', 'finding'));
        add(box, el('b', null, viol.rule + ': '));
        add(box, el('span', null, viol.cut ? '(text not kept in the report)' : viol.message));
      });
      if (flags.length > 20) add(body, el('div', 'hint', '\u2026 ' + (flags.length - 20) + ' more'));
    }
    if (s.error || s.status !== 'ok') {
      add(body, el('h3', null, 'Error'));
      var err = s.error || {};
      add(body, textBlock('div', 'error mono', (err.type ? err.type + ': ' : s.status + ' ') + (err.message !== undefined ? jsonText(err.message) : '')));
    }
    var kv = add(body, el('table', 'kv'));
    function rowKV(k, v) {
      var tr = add(kv, el('tr'));
      add(tr, el('td', null, k));
      var td = add(tr, el('td'));
      if (v instanceof Node) td.appendChild(v); else td.textContent = v === null || v === undefined ? '\u2014' : visible(v);
    }
    rowKV('agent', s.agent);
    rowKV('scope', s.scope === null ? null : s.scope + (s.scope_path.length > 1 ? '  (path ' + s.scope_path.join(' \u203a ') + ')' : ''));
    rowKV('start', fmtDur(M.start[i] - M.t0));
    rowKV('duration', fmtDur(M.end[i] - M.start[i]));
    rowKV('status', s.status);
    var path = [];
    for (var p = i; p >= 0 && path.length < 64; p = M.parent[p]) path.unshift(M.spans[p].kind + ':' + M.spans[p].name);
    rowKV('path', path.join(' \u203a '));
    function spanButtons(list) {
      var wrap = el('span');
      list.forEach(function (j) {
        var b = add(wrap, el('button', 'link', M.spans[j].kind + ':' + shortText(M.spans[j].name, 40) + ' #' + M.spans[j].span_id));
        b.addEventListener('click', function () { reveal(j); });
      });
      return wrap;
    }
    var linked = s.links.map(function (id) { return M.idx.get(String(id)); }).filter(function (j) { return j !== undefined; });
    if (s.links.length) rowKV('consumed', linked.length ? spanButtons(linked) : s.links.join(', '));
    if (M.consumers[i]) rowKV('feeds', spanButtons(M.consumers[i]));
    function block(title, value) {
      if (value === undefined || value === null) return;
      if (typeof value === 'object' && !Array.isArray(value) && !Object.keys(value).length) return;
      add(body, el('h3', null, title));
      var text = jsonText(value);
      var pre = add(body, textBlock('pre', null, text.length > 20000 ? text.slice(0, 20000) : text));
      if (text.length > 20000) {
        var more = add(body, el('button', 'link', 'show all ' + text.length + ' characters'));
        more.addEventListener('click', function () { pre.textContent = visibleLines(text); more.remove(); });
      }
    }
    var stamps = Object.keys(s.versions);
    if (stamps.length) {
      add(body, el('h3', null, 'Versions'));
      var box = add(body, el('div', 'stamps'));
      var changed = newStamps(M, i);
      stamps.forEach(function (k) {
        var v = String(s.versions[k]);
        var chipV = add(box, el('span', 'stamp' + (changed.indexOf(v) >= 0 ? ' changed' : ''), k + ' = ' + v));
        setTitle(chipV, k + ' = ' + v);
      });
    }
    block('Input', s.input);
    block('Output', s.output);
    block('Attributes', s.attributes);
    block('Context handed over', s.context);
    if (s.events.length) {
      add(body, el('h3', null, 'Events (' + s.events.length + ')'));
      var ev = add(body, el('table', 'kv'));
      s.events.slice(0, 500).forEach(function (e) {
        var tr = add(ev, el('tr'));
        add(tr, el('td', 'mono', e && e.time_ns !== undefined ? fmtDur(+e.time_ns - M.t0) : ''));
        var td = add(tr, el('td'));
        add(td, el('b', null, e && e.name !== undefined ? e.name : '(event)'));
        if (e && e.attributes && Object.keys(e.attributes).length) add(td, el('div', 'mono', shortText(e.attributes, 400)));
      });
    }
  }
