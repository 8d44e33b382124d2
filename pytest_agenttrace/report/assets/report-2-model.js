  // The trace model built from a record: indexes, tree, lanes, flags; the search index and queries.
  function buildModel(record) {
    var trace = record.trace || { spans: [] };
    var spans = trace.spans || [];
    var n = spans.length;
    var M = {
      trace: trace, spans: spans, n: n, idx: new Map(),
      parent: new Int32Array(n), depth: new Int32Array(n), kids: new Array(n), roots: [],
      start: new Float64Array(n), end: new Float64Array(n), consumers: new Array(n),
      flags: new Map(), violations: record.violations || [], diffs: record.snapshot_diffs || [],
      selections: (record.selections || []).map(function (sel) { return { selector: String(sel.selector), ids: new Set((sel.spans || []).map(String)) }; }),
      agentNames: [], hay: null
    };
    var i, s;
    for (i = 0; i < n; i++) {
      s = spans[i];
      s.status = s.status || 'ok';
      s.attributes = s.attributes || {};
      s.versions = s.versions || {};
      s.links = s.links || [];
      s.events = s.events || [];
      s.scope_path = s.scope_path || [];
      if (s.agent === undefined) s.agent = null;
      if (s.scope === undefined) s.scope = null;
      M.idx.set(String(s.span_id), i);
      M.start[i] = +s.start_ns || 0;
      M.end[i] = Math.max(+s.end_ns || 0, M.start[i]);
    }
    var t0 = Infinity, t1 = -Infinity;
    var seenAgents = new Map();
    for (i = 0; i < n; i++) {
      s = spans[i];
      var p = s.parent_id === undefined || s.parent_id === null ? -1 : M.idx.get(String(s.parent_id));
      if (p === undefined || p === i) p = -1;
      M.parent[i] = p;
      if (p < 0) M.roots.push(i); else (M.kids[p] || (M.kids[p] = [])).push(i);
      if (M.start[i] < t0) t0 = M.start[i];
      if (M.end[i] > t1) t1 = M.end[i];
      var key = s.agent === null ? '' : String(s.agent);
      if (!seenAgents.has(key)) { seenAgents.set(key, seenAgents.size); M.agentNames.push(s.agent); }
      for (var l = 0; l < s.links.length; l++) {
        var src = M.idx.get(String(s.links[l]));
        if (src !== undefined) (M.consumers[src] || (M.consumers[src] = [])).push(i);
      }
    }
    M.laneOf = seenAgents;
    M.t0 = n ? t0 : 0;
    M.t1 = n ? Math.max(t1, t0 + 1) : 1;
    // Depth by an explicit stack: deep traces must not overflow the call stack.
    var seen = new Uint8Array(n);
    function descend(stack) {
      while (stack.length) {
        var cur = stack.pop();
        var kids = M.kids[cur];
        if (!kids) continue;
        for (var k = 0; k < kids.length; k++) {
          if (seen[kids[k]]) continue;
          seen[kids[k]] = 1;
          M.depth[kids[k]] = M.depth[cur] + 1;
          stack.push(kids[k]);
        }
      }
    }
    M.roots.forEach(function (r) { seen[r] = 1; });
    descend(M.roots.slice());
    // Spans in a parent cycle are unreachable from the roots: cut each cycle once, keep its spans.
    for (i = 0; i < n; i++) {
      if (seen[i]) continue;
      var former = M.parent[i];
      if (former >= 0 && M.kids[former]) {
        M.kids[former] = M.kids[former].filter(function (k) { return k !== i; });
        if (!M.kids[former].length) M.kids[former] = undefined;
      }
      M.parent[i] = -1; M.depth[i] = 0; seen[i] = 1;
      M.roots.push(i);
      descend([i]);
    }
    M.violations.forEach(function (v, vi) {
      (v.spans || []).forEach(function (id) {
        var j = M.idx.get(String(id));
        if (j === undefined) return;
        var list = M.flags.get(j);
        if (!list) M.flags.set(j, list = []);
        if (list.indexOf(vi) < 0) list.push(vi);
      });
    });
    return M;
  }

  // The rules that flag span i, each once (a span may be named by thousands of violations of one rule).
  function flagRules(M, i) {
    var flags = M.flags.get(i), seen = new Set(), out = [];
    if (!flags) return out;
    for (var f = 0; f < flags.length; f++) {
      var rule = String(M.violations[flags[f]].rule);
      if (!seen.has(rule)) { seen.add(rule); out.push(rule); }
    }
    return out;
  }

  // Version stamps that a span introduces (differ from its parent's): shown on its row.
  function newStamps(M, i) {
    var own = M.spans[i].versions;
    var p = M.parent[i];
    var parent = p >= 0 ? M.spans[p].versions : {};
    var out = [];
    for (var k in own) if (Object.prototype.hasOwnProperty.call(own, k) && parent[k] !== own[k]) out.push(String(own[k]));
    return out;
  }

  // The searchable text of every span, built on the first free-text search.  Each field is there as the
  // trace holds it and, when that differs, as the page shows it (escaped), so a query finds what is on
  // screen and what was pasted from elsewhere.  Payloads (error, attributes, input, output, context) are
  // searched in their first SEARCH_CHARS characters of compact JSON: the recorder's own cap on a string,
  // so a recorded text is searched whole, while a trace of big payloads still gets an index of bounded size.
  var SEARCH_CHARS = 4000;
  function flat(value) {
    var t = typeof value === 'string' ? value : JSON.stringify(value);
    return t && t.length > SEARCH_CHARS ? t.slice(0, SEARCH_CHARS) : t || '';
  }
  function searchable(parts, text) {
    text = String(text);
    parts.push(text);
    var shown = visible(text);
    if (shown !== text) parts.push(shown);
  }
  function haystack(M) {
    if (M.hay) return M.hay;
    var hay = new Array(M.n);
    for (var i = 0; i < M.n; i++) {
      var s = M.spans[i], parts = [];
      searchable(parts, s.name);
      searchable(parts, s.kind);
      if (s.agent !== null) searchable(parts, s.agent);  // a missing agent or scope is no text ("null")
      if (s.scope !== null) searchable(parts, s.scope);
      searchable(parts, s.status);
      searchable(parts, s.span_id);
      if (s.error) searchable(parts, flat(s.error));
      for (var k in s.attributes) { searchable(parts, flat(s.attributes)); break; }
      if (s.input !== undefined && s.input !== null) searchable(parts, flat(s.input));
      if (s.output !== undefined && s.output !== null) searchable(parts, flat(s.output));
      if (s.context) searchable(parts, flat(s.context));
      hay[i] = parts.join('\n').toLowerCase();
    }
    M.hay = hay;
    return hay;
  }

  // Filter queries: free words match anywhere (name, agent, attributes, input, output, error);
  // key:value terms match one field (kind, agent, name, status, scope, id), '*' is a wildcard;
  // "two words" and name:"two words" keep their space.  Both match a field as stored or as shown.
  var FIELDS = { kind: 'kind', agent: 'agent', name: 'name', status: 'status', scope: 'scope', id: 'span_id' };
  function compileQuery(text) {
    var terms = [];
    var words = text.trim().match(/[a-z_]+:"[^"]*"?|"[^"]*"?|\S+/gi) || [];
    words.forEach(function (w) {
      var m = /^([a-z_]+):([^]*)$/i.exec(w);
      if (m && FIELDS[m[1].toLowerCase()]) {
        var pattern = m[2].replace(/^"|"$/g, '').toLowerCase();
        var rx = new RegExp('^' + pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^]*') + '$');
        terms.push({ field: FIELDS[m[1].toLowerCase()], rx: rx });
      } else {
        var word = w.replace(/^"|"$/g, '').toLowerCase();
        if (word) terms.push({ word: word });
      }
    });
    return terms;
  }
  function fieldMatches(value, rx) {
    var text = value === null || value === undefined ? '' : String(value);
    if (rx.test(text.toLowerCase())) return true;
    var shown = visible(text);
    return shown !== text && rx.test(shown.toLowerCase());
  }
  function matcher(M, f) {
    var terms = compileQuery(f.text || '');
    var needHay = terms.some(function (t) { return t.word !== undefined; });
    var hay = needHay ? haystack(M) : null;
    var selection = f.selection ? M.selections[+f.selection - 1] : null;
    if (!terms.length && !f.kind && !f.agent && !f.status && !f.flagged && !selection) return null;
    return function (i) {
      var s = M.spans[i];
      if (f.kind && s.kind !== f.kind) return false;
      if (f.agent && String(s.agent) !== f.agent) return false;
      if (f.status && s.status !== f.status) return false;
      if (f.flagged && !M.flags.has(i)) return false;
      if (selection && !selection.ids.has(String(s.span_id))) return false;
      for (var t = 0; t < terms.length; t++) {
        var term = terms[t];
        if (term.word !== undefined) {
          if (hay[i].indexOf(term.word) < 0) return false;
        } else if (!fieldMatches(s[term.field], term.rx)) {
          return false;
        }
      }
      return true;
    };
  }
