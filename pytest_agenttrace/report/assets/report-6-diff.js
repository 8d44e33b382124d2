  // The snapshot mismatch: version changes first, then a side-by-side tree diff.
  function diffLines(x) {
    // A normalised trace (spans with parent ids, or nested children) as indented lines.
    var lines = [];
    function label(node) {
      if (typeof node !== 'object' || node === null) return String(node);
      var parts = [node.kind, node.name].filter(function (v) { return v !== undefined && v !== null; });
      if (node.agent !== undefined && node.agent !== null) parts.push('@' + node.agent);
      if (node.status && node.status !== 'ok') parts.push('[' + node.status + ']');
      return parts.length ? parts.join(' ') : shortText(node, 120);
    }
    function walk(nodes, depth) {
      nodes.forEach(function (node) {
        lines.push({ text: new Array(depth + 1).join('  ') + label(node), key: depth + '|' + label(node), node: node });
        if (node && Array.isArray(node.children)) walk(node.children, depth + 1);
      });
    }
    if (x === undefined || x === null) return lines;
    if (typeof x === 'string') return x.split('\n').map(function (t) { return { text: t, key: t }; });
    var spans = Array.isArray(x) ? x : Array.isArray(x.spans) ? x.spans : Array.isArray(x.tree) ? x.tree : Array.isArray(x.roots) ? x.roots : null;
    if (!spans) return [{ text: shortText(x, 400), key: jsonText(x) }];
    var hasParents = spans.some(function (s) { return s && s.parent_id !== undefined; });
    if (!hasParents) { walk(spans, 0); return lines; }
    var byParent = new Map(), ids = new Set();
    spans.forEach(function (s) { ids.add(String(s.span_id)); });
    spans.forEach(function (s) {
      var key = s.parent_id === null || !ids.has(String(s.parent_id)) ? '' : String(s.parent_id);
      (byParent.get(key) || byParent.set(key, []).get(key)).push(s);
    });
    var stack = (byParent.get('') || []).map(function (s) { return [s, 0]; }).reverse();
    while (stack.length) {
      var top = stack.pop(), node = top[0];
      lines.push({ text: new Array(top[1] + 1).join('  ') + label(node), key: top[1] + '|' + label(node), node: node });
      (byParent.get(String(node.span_id)) || []).slice().reverse().forEach(function (c) { stack.push([c, top[1] + 1]); });
    }
    return lines;
  }
  function align(a, b) {
    // Side-by-side rows from an LCS of the line keys (bounded: large trees align greedily).
    var n = a.length, m = b.length, out = [];
    if (n * m > 4e6) {
      for (var z = 0; z < Math.max(n, m); z++) out.push([a[z] || null, b[z] || null]);
      return out;
    }
    var dp = new Array(n + 1);
    for (var i = 0; i <= n; i++) dp[i] = new Int32Array(m + 1);
    for (i = n - 1; i >= 0; i--) for (var j = m - 1; j >= 0; j--)
      dp[i][j] = a[i].key === b[j].key ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
    i = 0; j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[i].key === b[j].key) { out.push([a[i++], b[j++]]); }
      else if (j < m && (i >= n || dp[i][j + 1] >= dp[i + 1][j])) out.push([null, b[j++]]);
      else out.push([a[i++], null]);
    }
    return out;
  }
  function versionChangeText(c) {
    // diff.VersionChange.to_dict(): {key, old, new, text}; text reads 'prompt summarizer v3 -> v4'.
    if (typeof c === 'string') return c;
    if (c && typeof c === 'object') {
      var from = c.old === undefined || c.old === null ? '(none)' : c.old;
      var to = c['new'] === undefined || c['new'] === null ? '(none)' : c['new'];
      if (c.text) return c.text + '    (' + from + ' \u2192 ' + to + ')';
      return (c.key || '') + ': ' + from + ' \u2192 ' + to;
    }
    return shortText(c, 300);
  }
  function changeText(c) {
    // diff.Change.to_dict(): op added/removed/moved/changed with paths, field, old/new values.
    if (typeof c !== 'object' || c === null) return String(c);
    var path = c.path || c.new_path || c.old_path || '';
    if (c.op === 'changed') return '~ ' + path + ': ' + c.field + ': ' + (c.old === undefined ? '(missing)' : shortText(c.old, 120)) + ' \u2192 ' + (c['new'] === undefined ? '(missing)' : shortText(c['new'], 120));
    if (c.op === 'moved') return '> ' + path + ': moved from position ' + c.old_position + ' to ' + c.new_position;
    if (c.op === 'added') return '+ ' + path;
    if (c.op === 'removed') return '- ' + path;
    return shortText(c, 300);
  }
  function nodeSig(node) {
    if (typeof node !== 'object' || node === null) return String(node);
    var copy = {};
    for (var k in node) if (k !== 'children' && Object.prototype.hasOwnProperty.call(node, k)) copy[k] = node[k];
    return JSON.stringify(copy);
  }
  function renderDiff(host, diff) {
    var body = add(host, el('div', 'panel-body'));
    if (diff.test) add(body, el('div', 'hint', String(diff.test)));
    var changes = diff.version_changes;
    if (changes && !Array.isArray(changes) && typeof changes === 'object') {
      changes = Object.keys(changes).map(function (k) { var v = changes[k]; return Array.isArray(v) ? { name: k, golden: v[0], actual: v[1] } : (typeof v === 'object' && v !== null ? Object.assign({ name: k }, v) : k + ': ' + v); });
    }
    var vc = add(body, el('div', 'version-changes'));
    if (changes && changes.length) {
      add(vc, el('div', 'vc', 'Version stamps changed since the golden:'));
      changes.forEach(function (c) { add(vc, el('div', 'mono', versionChangeText(c))); });
    } else {
      add(vc, el('div', null, 'No version stamp changed since the golden: the difference comes from the run itself.'));
    }
    (diff.counts || []).forEach(function (c) { add(vc, el('div', 'mono', typeof c === 'string' ? c : c.text || shortText(c, 200))); });
    var left = diffLines(diff.golden), right = diffLines(diff.actual);
    var rows = align(left, right);
    var grid = add(body, el('div', 'sbs mono'));
    add(grid, el('div', 'col-head', 'golden (' + left.length + ')'));
    add(grid, el('div', 'col-head', 'this run (' + right.length + ')'));
    rows.forEach(function (pair) {
      var a = pair[0], b = pair[1];
      var same = a && b && (a.node === undefined ? a.text : nodeSig(a.node)) === (b.node === undefined ? b.text : nodeSig(b.node));
      var la = add(grid, el('div', 'ln ' + (!a ? 'gap' : !b ? 'del' : same ? '' : 'chg'), a ? a.text : ''));
      var lb = add(grid, el('div', 'ln ' + (!b ? 'gap' : !a ? 'add' : same ? '' : 'chg'), b ? b.text : ''));
      setTitle(la, a ? a.text : ''); setTitle(lb, b ? b.text : '');
    });
    var list = diff.changes || [];
    if (list.length) {
      add(body, el('h3', null, 'Changes (' + list.length + ')'));
      var ul = add(body, el('ul', 'changes mono'));
      list.slice(0, 500).forEach(function (c) { add(ul, el('li', null, changeText(c))); });
    }
  }
