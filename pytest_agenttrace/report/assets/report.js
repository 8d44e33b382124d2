/* pytest-agenttrace report page.
 *
 * Reads the JSON blocks written by report/html.py and draws, per test: the
 * violations, the snapshot diff, a waterfall timeline (one lane per agent) on
 * a canvas, and a virtualised span tree with a details panel.
 *
 * Trace content is untrusted model output: every text from the data goes into
 * the page through textContent (or canvas fillText), never through innerHTML,
 * attributes that take URLs, or event-handler attributes.
 */
(function () {
  'use strict';

  // ------------------------------------------------------------------ utils
  var KINDS = {
    agent: { label: 'A', color: '#7c3aed' },
    llm: { label: 'L', color: '#2563eb' },
    tool: { label: 'T', color: '#16a34a' },
    retrieval: { label: 'R', color: '#0891b2' },
    handoff: { label: 'H', color: '#d97706' },
    delegation: { label: 'D', color: '#b45309' },
    memory_read: { label: 'Mr', color: '#0d9488' },
    memory_write: { label: 'Mw', color: '#db2777' },
    guardrail: { label: 'G', color: '#4f46e5' },
    wait: { label: 'W', color: '#6b7280' },
    custom: { label: '\u00b7', color: '#64748b' }
  };
  var ERROR_COLOR = '#dc2626';
  var ROW_H = 24;           // tree row height (px); matches --row in the CSS
  var AUTO_EXPAND_ALL = 2000;   // traces up to this many spans open fully expanded
  var AUTO_DEPTH = 2;           // larger traces open this many levels deep ...
  var AUTO_MAX_ROWS = 3000;     // ... but never beyond this many initially visible rows

  function kindOf(kind) { return Object.prototype.hasOwnProperty.call(KINDS, kind) ? kind : 'custom'; }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent, child) {  // returns the child, for chaining
    parent.appendChild(child);
    return child;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function fmtDur(ns) {
    if (!isFinite(ns)) return '';
    if (ns < 0) return '-' + fmtDur(-ns);
    if (ns === 0) return '0';
    if (ns < 1e3) return Math.round(ns) + 'ns';
    if (ns < 1e6) return +(ns / 1e3).toPrecision(3) + '\u00b5s';
    if (ns < 1e9) return +(ns / 1e6).toPrecision(3) + 'ms';
    var s = ns / 1e9;
    if (s < 60) return +s.toPrecision(3) + 's';
    var m = Math.floor(s / 60);
    var r = Math.round(s - m * 60);
    return m + 'm' + (r < 10 ? '0' : '') + r + 's';
  }
  function jsonText(value) {
    if (typeof value === 'string') return value;
    try { return JSON.stringify(value, null, 2); } catch (e) { return String(value); }
  }
  function shortText(value, limit) {
    var t = typeof value === 'string' ? value : jsonText(value);
    t = t.replace(/\s+/g, ' ');
    return t.length > limit ? t.slice(0, limit - 1) + '\u2026' : t;
  }
  function readJSON(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  function debounce(fn, ms) {
    var timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }

  // ------------------------------------------------------------------ model
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

  // Version stamps that a span introduces (differ from its parent's): shown on its row.
  function newStamps(M, i) {
    var own = M.spans[i].versions;
    var p = M.parent[i];
    var parent = p >= 0 ? M.spans[p].versions : {};
    var out = [];
    for (var k in own) if (Object.prototype.hasOwnProperty.call(own, k) && parent[k] !== own[k]) out.push(String(own[k]));
    return out;
  }

  // The searchable text of every span, built on the first free-text search (compact JSON, capped).
  function flat(value, limit) {
    var t = typeof value === 'string' ? value : JSON.stringify(value);
    return t && t.length > limit ? t.slice(0, limit) : t || '';
  }
  function haystack(M) {
    if (M.hay) return M.hay;
    var hay = new Array(M.n);
    for (var i = 0; i < M.n; i++) {
      var s = M.spans[i];
      var text = s.name + '\n' + s.kind + '\n' + s.agent + '\n' + s.scope + '\n' + s.status + '\n' + s.span_id;
      if (s.error) text += '\n' + flat(s.error, 2000);
      for (var k in s.attributes) { text += '\n' + flat(s.attributes, 2000); break; }
      if (s.input !== undefined && s.input !== null) text += '\n' + flat(s.input, 2000);
      if (s.output !== undefined && s.output !== null) text += '\n' + flat(s.output, 2000);
      if (s.context) text += '\n' + flat(s.context, 1000);
      hay[i] = text.toLowerCase();
    }
    M.hay = hay;
    return hay;
  }

  // Filter queries: free words match anywhere (name, agent, attributes, input, output, error);
  // key:value terms match one field (kind, agent, name, status, scope, id), '*' is a wildcard.
  var FIELDS = { kind: 'kind', agent: 'agent', name: 'name', status: 'status', scope: 'scope', id: 'span_id' };
  function compileQuery(text) {
    var terms = [];
    var words = text.trim().match(/"[^"]*"|\S+/g) || [];
    words.forEach(function (w) {
      var m = /^([a-z_]+):(.+)$/i.exec(w);
      if (m && FIELDS[m[1].toLowerCase()]) {
        var pattern = m[2].replace(/^"|"$/g, '').toLowerCase();
        var rx = new RegExp('^' + pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$');
        terms.push({ field: FIELDS[m[1].toLowerCase()], rx: rx });
      } else {
        terms.push({ word: w.replace(/^"|"$/g, '').toLowerCase() });
      }
    });
    return terms;
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
        } else if (!term.rx.test(String(s[term.field] === null ? '' : s[term.field]).toLowerCase())) {
          return false;
        }
      }
      return true;
    };
  }

  // ------------------------------------------------------------------ tree
  function Tree(M, host, onSelect) {
    this.M = M;
    this.onSelect = onSelect;
    this.expanded = new Uint8Array(M.n);
    this.visible = [];
    this.matches = null;     // Uint8Array when a filter is active
    this.selected = -1;
    this.highlight = new Set();
    this.scroller = add(host, el('div', 'tree'));
    this.scroller.tabIndex = 0;
    this.spacer = add(this.scroller, el('div', 'spacer'));
    var self = this;
    this.scroller.addEventListener('scroll', function () { self.schedule(); });
    this.scroller.addEventListener('keydown', function (ev) { self.key(ev); });
    this.autoExpand();
    this.recompute();
  }
  Tree.prototype.autoExpand = function () {
    var M = this.M;
    var all = M.n <= AUTO_EXPAND_ALL;
    var rows = M.roots.length;
    var queue = M.roots.slice();
    for (var q = 0; q < queue.length; q++) {
      var i = queue[q];
      var kids = M.kids[i];
      if (!kids) continue;
      if (!all && (M.depth[i] >= AUTO_DEPTH || rows + kids.length > AUTO_MAX_ROWS)) continue;
      this.expanded[i] = 1;
      rows += kids.length;
      for (var k = 0; k < kids.length; k++) queue.push(kids[k]);
    }
  };
  Tree.prototype.setAll = function (open) {
    this.expanded.fill(open ? 1 : 0);
    this.recompute();
  };
  Tree.prototype.setFilter = function (match) {
    var M = this.M;
    if (!match) { this.matches = null; this.recompute(); return 0; }
    var hits = new Uint8Array(M.n);   // 1 = matches, 2 = ancestor of a match
    var count = 0;
    for (var i = 0; i < M.n; i++) {
      if (!match(i)) continue;
      hits[i] = 1; count++;
      for (var p = M.parent[i]; p >= 0 && !hits[p]; p = M.parent[p]) hits[p] = 2;
    }
    this.matches = hits;
    this.recompute();
    return count;
  };
  Tree.prototype.recompute = function () {
    var M = this.M, out = [], hits = this.matches, expanded = this.expanded;
    var stack = M.roots.slice().reverse();
    while (stack.length) {
      var i = stack.pop();
      if (hits && !hits[i]) continue;
      out.push(i);
      var kids = M.kids[i];
      if (!kids) continue;
      if (hits ? hits[i] === 2 || expanded[i] : expanded[i]) {
        for (var k = kids.length - 1; k >= 0; k--) stack.push(kids[k]);
      }
    }
    this.visible = out;
    this.pos = new Map();
    for (var r = 0; r < out.length; r++) this.pos.set(out[r], r);
    this.spacer.style.height = out.length * ROW_H + 'px';
    this.scroller.dataset.visible = String(out.length);
    this.scroller.dataset.total = String(M.n);
    this.render();
  };
  Tree.prototype.schedule = function () {
    var self = this;
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(function () { self.pending = false; self.render(); });
  };
  Tree.prototype.render = function () {
    var M = this.M, sc = this.scroller;
    var first = Math.max(0, Math.floor(sc.scrollTop / ROW_H) - 10);
    var last = Math.min(this.visible.length, Math.ceil((sc.scrollTop + (sc.clientHeight || 560)) / ROW_H) + 10);
    clear(this.spacer);
    var frag = document.createDocumentFragment();
    for (var r = first; r < last; r++) frag.appendChild(this.row(this.visible[r], r));
    this.spacer.appendChild(frag);
    void M;
  };
  Tree.prototype.row = function (i, r) {
    var M = this.M, s = M.spans[i], self = this;
    var kind = kindOf(s.kind);
    var row = el('div', 'row k-' + kind);
    row.style.top = r * ROW_H + 'px';
    row.dataset.span = String(s.span_id);
    if (i === this.selected) row.classList.add('sel');
    if (this.highlight.has(i)) row.classList.add('hl');
    if (this.matches) row.classList.add(this.matches[i] === 1 ? 'match' : 'dim');
    var ind = add(row, el('span', 'ind'));
    ind.style.width = M.depth[i] * 14 + 'px';
    var tog = add(row, el('span', 'tog', M.kids[i] ? (this.isOpen(i) ? '\u25be' : '\u25b8') : ''));
    if (M.kids[i]) {
      tog.title = M.kids[i].length + ' children';
      tog.addEventListener('click', function (ev) { ev.stopPropagation(); self.toggle(i); });
    }
    var chip = add(row, el('span', 'kchip', KINDS[kind].label));
    chip.style.setProperty('--c', s.status !== 'ok' ? ERROR_COLOR : KINDS[kind].color);
    chip.title = String(s.kind);
    var name = add(row, el('span', 'name', s.name));
    name.title = String(s.name);
    newStamps(M, i).slice(0, 2).forEach(function (v) { add(row, el('span', 'vchip', v)).title = v; });
    var flags = M.flags.get(i);
    if (flags) {
      var rules = flags.map(function (v) { return M.violations[v].rule; });
      var flag = add(row, el('span', 'flag', '! ' + rules.join(', ')));
      flag.title = rules.join('\n');
    }
    add(row, el('span', 'sp'));
    var agent = add(row, el('span', 'agent', s.agent === null ? '' : s.agent));
    agent.title = 'agent: ' + (s.agent === null ? '(none)' : s.agent);
    var scopeSpan = s.scope === null ? undefined : M.idx.get(String(s.scope));
    var scopeText = s.scope === null ? '' : (scopeSpan !== undefined ? M.spans[scopeSpan].name + '#' : '') + s.scope;
    var scope = add(row, el('span', 'scope', scopeText));
    scope.title = s.scope === null ? 'no delegation scope' : 'delegation scope: ' + scopeText + ' (path ' + s.scope_path.join(' > ') + ')';
    add(row, el('span', 'dur', fmtDur(M.end[i] - M.start[i])));
    var st = add(row, el('span', 'st ' + (s.status === 'ok' ? 'ok' : 'err'), s.status === 'ok' ? '\u2713' : '\u2717'));
    st.title = String(s.status);
    row.addEventListener('click', function () { self.select(i, false); self.onSelect(i); });
    row.addEventListener('dblclick', function () { if (M.kids[i]) self.toggle(i); });
    return row;
  };
  Tree.prototype.isOpen = function (i) {
    return this.matches ? this.matches[i] === 2 || this.expanded[i] === 1 : this.expanded[i] === 1;
  };
  Tree.prototype.toggle = function (i) {
    if (this.matches && this.matches[i] === 2) return;
    this.expanded[i] = this.expanded[i] ? 0 : 1;
    this.recompute();
  };
  Tree.prototype.reveal = function (i) {
    var M = this.M;
    for (var p = M.parent[i]; p >= 0; p = M.parent[p]) this.expanded[p] = 1;
    if (this.matches && !this.matches[i]) this.matches = null;
    this.recompute();
    var r = this.pos.get(i);
    if (r === undefined) return;
    var sc = this.scroller, h = sc.clientHeight || 560;
    if (r * ROW_H < sc.scrollTop || (r + 1) * ROW_H > sc.scrollTop + h) sc.scrollTop = Math.max(0, r * ROW_H - h / 2);
    this.render();
  };
  Tree.prototype.select = function (i, reveal) {
    this.selected = i;
    if (reveal) this.reveal(i); else this.render();
  };
  Tree.prototype.setHighlight = function (set) {
    this.highlight = set;
    this.render();
  };
  Tree.prototype.key = function (ev) {
    var r = this.pos.get(this.selected);
    var next = null;
    if (ev.key === 'ArrowDown') next = r === undefined ? 0 : Math.min(r + 1, this.visible.length - 1);
    else if (ev.key === 'ArrowUp') next = r === undefined ? 0 : Math.max(r - 1, 0);
    else if ((ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') && r !== undefined) {
      var i = this.selected;
      if (this.M.kids[i] && (ev.key === 'ArrowRight') !== this.isOpen(i)) this.toggle(i);
      ev.preventDefault();
      return;
    } else return;
    ev.preventDefault();
    if (!this.visible.length) return;
    var target = this.visible[next];
    this.select(target, true);
    this.onSelect(target);
  };

  // ------------------------------------------------------------------ timeline
  var TL = { AXIS: 22, GUTTER: 150, ROW: 16, BAR: 12, PAD: 6, MAX_SUB: 24, MAX_H: 440 };

  function Timeline(M, host, onSelect) {
    this.M = M;
    this.onSelect = onSelect;
    this.selected = -1;
    this.hover = -1;
    this.highlight = new Set();
    this.chain = [];
    this.layout();
    this.view0 = M.t0;
    this.view1 = M.t1 + (M.t1 - M.t0) * 0.02;
    this.scroller = add(host, el('div', 'tl-scroll'));
    this.canvas = add(this.scroller, el('canvas'));
    this.filler = add(this.scroller, el('div'));
    this.tip = add(document.body, el('div', 'tooltip'));
    this.canvas.dataset.spans = String(this.count);
    this.canvas.dataset.lanes = String(this.lanes.length);
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', 'timeline of ' + this.count + ' spans in ' + this.lanes.length + ' agent lanes');
    this.bind();
    this.resize();
  }
  Timeline.prototype.layout = function () {
    var M = this.M, n = M.n;
    var lanes = M.agentNames.map(function (a) { return { agent: a, subEnds: [], base: 0, rows: 1 }; });
    var laneOf = new Int32Array(n), sub = new Int32Array(n);
    for (var i = 0; i < n; i++) {
      var s = M.spans[i];
      var lane = M.laneOf.get(s.agent === null ? '' : String(s.agent));
      var L = lanes[lane], ends = L.subEnds, r = -1;
      // First fit: nested spans stack under their parent, parallel work opens new sub-rows.
      for (var k = 0; k < ends.length; k++) if (ends[k] <= M.start[i]) { r = k; break; }
      if (r < 0) {
        if (ends.length < TL.MAX_SUB) { r = ends.length; ends.push(0); }
        else { r = 0; for (k = 1; k < ends.length; k++) if (ends[k] < ends[r]) r = k; }
      }
      ends[r] = Math.max(ends[r], M.end[i]);
      laneOf[i] = lane; sub[i] = r;
    }
    var y = 0, rowBase = 0;
    lanes.forEach(function (L) {
      L.rows = Math.max(1, L.subEnds.length);
      L.y = y; L.rowBase = rowBase;
      L.height = L.rows * TL.ROW + TL.PAD * 2;
      y += L.height; rowBase += L.rows;
    });
    var rows = [];
    for (var g = 0; g < rowBase; g++) rows.push([]);
    for (i = 0; i < n; i++) rows[lanes[laneOf[i]].rowBase + sub[i]].push(i);
    this.lanes = lanes; this.laneOf = laneOf; this.sub = sub; this.rows = rows;
    this.totalH = y;
    this.count = n;
    // Delegation scopes: the lanes of the delegate and of every agent acting under the scope.
    var bands = [];
    var bandOf = new Map();
    for (i = 0; i < n; i++) {
      var d = M.spans[i];
      if (d.kind !== 'delegation') continue;
      var set = new Set();
      var to = d.attributes.to_agent;
      if (to !== undefined && to !== null && M.laneOf.has(String(to))) set.add(M.laneOf.get(String(to)));
      bandOf.set(String(d.span_id), set);
      bands.push({ span: i, lanes: set });
    }
    for (i = 0; i < n; i++) {
      var sc = M.spans[i].scope;
      if (sc === null) continue;
      var lanesSet = bandOf.get(String(sc));
      if (lanesSet) lanesSet.add(laneOf[i]);
    }
    this.bands = bands;
  };
  Timeline.prototype.bind = function () {
    var self = this, cv = this.canvas;
    this.scroller.addEventListener('scroll', function () { self.draw(); });
    window.addEventListener('resize', debounce(function () { self.resize(); }, 100));
    var drag = null;
    cv.addEventListener('mousedown', function (ev) {
      drag = { x: ev.clientX, v0: self.view0, v1: self.view1, moved: false };
      cv.classList.add('dragging');
    });
    window.addEventListener('mouseup', function () { cv.classList.remove('dragging'); setTimeout(function () { drag = null; }, 0); });
    cv.addEventListener('mousemove', function (ev) {
      if (drag && (ev.buttons & 1)) {
        var dx = ev.clientX - drag.x;
        if (Math.abs(dx) > 2) drag.moved = true;
        var per = (drag.v1 - drag.v0) / self.plotW();
        self.view0 = drag.v0 - dx * per; self.view1 = drag.v1 - dx * per;
        self.draw();
        return;
      }
      var hit = self.hit(ev);
      if (hit !== self.hover) { self.hover = hit; self.draw(); }
      self.showTip(hit, ev);
    });
    cv.addEventListener('mouseleave', function () { self.hover = -1; self.tip.style.display = 'none'; self.draw(); });
    cv.addEventListener('click', function (ev) {
      if (drag && drag.moved) return;
      var hit = self.hit(ev);
      if (hit >= 0) { self.select(hit); self.onSelect(hit); }
    });
    cv.addEventListener('dblclick', function (ev) {
      var hit = self.hit(ev);
      if (hit >= 0) self.zoomTo(self.M.start[hit], self.M.end[hit]);
    });
    cv.addEventListener('wheel', function (ev) {
      if (!(ev.ctrlKey || ev.metaKey || ev.altKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY))) return;
      ev.preventDefault();
      if (Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
        var per = (self.view1 - self.view0) / self.plotW();
        self.view0 += ev.deltaX * per; self.view1 += ev.deltaX * per;
      } else {
        self.zoomAt(self.timeAt(ev), ev.deltaY > 0 ? 1.25 : 0.8);
      }
      self.draw();
    }, { passive: false });
  };
  Timeline.prototype.plotW = function () { return Math.max(50, this.width - TL.GUTTER - 8); };
  Timeline.prototype.x = function (t) { return TL.GUTTER + (t - this.view0) / (this.view1 - this.view0) * this.plotW(); };
  Timeline.prototype.timeAt = function (ev) {
    var rect = this.canvas.getBoundingClientRect();
    return this.view0 + (ev.clientX - rect.left - TL.GUTTER) / this.plotW() * (this.view1 - this.view0);
  };
  Timeline.prototype.zoomAt = function (t, factor) {
    var span = Math.max((this.view1 - this.view0) * factor, 1000);
    var frac = (t - this.view0) / (this.view1 - this.view0);
    if (!isFinite(frac)) frac = 0.5;
    this.view0 = t - frac * span; this.view1 = this.view0 + span;
  };
  Timeline.prototype.zoomTo = function (a, b) {
    var pad = Math.max((b - a) * 0.1, 500);
    this.view0 = a - pad; this.view1 = b + pad;
    this.draw();
  };
  Timeline.prototype.fit = function () {
    this.view0 = this.M.t0; this.view1 = this.M.t1 + (this.M.t1 - this.M.t0) * 0.02;
    this.draw();
  };
  Timeline.prototype.resize = function () {
    this.width = Math.max(400, this.scroller.clientWidth || 900);
    this.height = Math.min(TL.MAX_H, this.totalH + TL.AXIS + 4);
    this.scroller.style.height = this.height + 'px';
    this.filler.style.height = Math.max(0, this.totalH + TL.AXIS + 4 - this.height) + 'px';
    var dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(this.width * dpr);
    this.canvas.height = Math.round(this.height * dpr);
    this.canvas.style.width = this.width + 'px';
    this.canvas.style.height = this.height + 'px';
    this.dpr = dpr;
    this.draw();
  };
  Timeline.prototype.barY = function (i) {
    var L = this.lanes[this.laneOf[i]];
    return TL.AXIS + L.y + TL.PAD + this.sub[i] * TL.ROW - this.scroller.scrollTop;
  };
  Timeline.prototype.hit = function (ev) {
    var rect = this.canvas.getBoundingClientRect();
    var px = ev.clientX - rect.left, py = ev.clientY - rect.top;
    if (px < TL.GUTTER || py < TL.AXIS) return -1;
    var y = py - TL.AXIS + this.scroller.scrollTop;
    var lane = -1;
    for (var l = 0; l < this.lanes.length; l++) if (y >= this.lanes[l].y && y < this.lanes[l].y + this.lanes[l].height) { lane = l; break; }
    if (lane < 0) return -1;
    var L = this.lanes[lane];
    var r = Math.floor((y - L.y - TL.PAD) / TL.ROW);
    if (r < 0 || r >= L.rows) return -1;
    var row = this.rows[L.rowBase + r], M = this.M;
    var t = this.view0 + (px - TL.GUTTER) / this.plotW() * (this.view1 - this.view0);
    var slack = 3 * (this.view1 - this.view0) / this.plotW();
    // Spans in a row are in start order: binary search the last one starting before t.
    var lo = 0, hi = row.length - 1, best = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (M.start[row[mid]] <= t + slack) { best = mid; lo = mid + 1; } else hi = mid - 1;
    }
    for (var k = best, tries = 0; k >= 0 && tries < 64; k--, tries++) {
      var i = row[k];
      if (M.end[i] + slack >= t) return i;
    }
    return -1;
  };
  Timeline.prototype.showTip = function (i, ev) {
    if (i < 0) { this.tip.style.display = 'none'; return; }
    var s = this.M.spans[i];
    var lines = [s.kind + ' ' + s.name, 'agent: ' + (s.agent === null ? '(none)' : s.agent),
      'start ' + fmtDur(this.M.start[i] - this.M.t0) + ', duration ' + fmtDur(this.M.end[i] - this.M.start[i]) + ', ' + s.status];
    if (s.error) lines.push('error: ' + shortText(s.error.message || s.error, 200));
    if (s.links.length) lines.push('consumed: ' + s.links.length + ' span(s)');
    if (this.M.consumers[i]) lines.push('feeds: ' + this.M.consumers[i].length + ' span(s)');
    var flags = this.M.flags.get(i);
    if (flags) lines.push('flagged: ' + flags.map(function (v) { return this.M.violations[v].rule; }, this).join(', '));
    this.tip.textContent = lines.join('\n');
    this.tip.style.display = 'block';
    this.tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - 440) + 'px';
    this.tip.style.top = ev.clientY + 14 + 'px';
  };
  Timeline.prototype.select = function (i) { this.selected = i; this.draw(); };
  Timeline.prototype.reveal = function (i) {
    var M = this.M, span = this.view1 - this.view0;
    if (M.end[i] < this.view0 || M.start[i] > this.view1) {
      var mid = (M.start[i] + M.end[i]) / 2;
      this.view0 = mid - span / 2; this.view1 = mid + span / 2;
    }
    var L = this.lanes[this.laneOf[i]];
    var y = L.y + TL.PAD + this.sub[i] * TL.ROW;
    var sc = this.scroller, h = this.height - TL.AXIS;
    if (y < sc.scrollTop || y + TL.ROW > sc.scrollTop + h) sc.scrollTop = Math.max(0, y - h / 2);
    this.draw();
  };
  Timeline.prototype.setHighlight = function (set, chain) { this.highlight = set; this.chain = chain || []; this.draw(); };
  Timeline.prototype.draw = function () {
    var self = this;
    if (this.frame) return;
    this.frame = requestAnimationFrame(function () { self.frame = 0; self.paint(); });
  };
  Timeline.prototype.paint = function () {
    var M = this.M, ctx = this.canvas.getContext('2d'), W = this.width, H = this.height;
    var top = this.scroller.scrollTop, self = this;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    var v0 = this.view0, v1 = this.view1, plotW = this.plotW(), scale = plotW / (v1 - v0);
    function X(t) { return TL.GUTTER + (t - v0) * scale; }
    // lanes
    ctx.save();
    ctx.beginPath(); ctx.rect(0, TL.AXIS, W, H - TL.AXIS); ctx.clip();
    this.lanes.forEach(function (L, li) {
      var y = TL.AXIS + L.y - top;
      if (y > H || y + L.height < TL.AXIS) return;
      ctx.fillStyle = li % 2 ? '#fafafa' : '#ffffff';
      ctx.fillRect(0, y, W, L.height);
      ctx.strokeStyle = '#e5e7eb'; ctx.beginPath(); ctx.moveTo(0, y + L.height + 0.5); ctx.lineTo(W, y + L.height + 0.5); ctx.stroke();
    });
    // delegation scopes as bands behind the bars
    this.bands.forEach(function (b) {
      var d = M.spans[b.span];
      var xa = Math.max(TL.GUTTER, X(M.start[b.span])), xb = Math.min(W, X(M.end[b.span]));
      if (xb < TL.GUTTER || xa > W) return;
      b.lanes.forEach(function (li) {
        var L = self.lanes[li], y = TL.AXIS + L.y - top;
        if (y > H || y + L.height < TL.AXIS) return;
        ctx.fillStyle = 'rgba(217,119,6,0.09)';
        ctx.fillRect(xa, y + 1, Math.max(1, xb - xa), L.height - 2);
        ctx.setLineDash([4, 3]); ctx.strokeStyle = 'rgba(180,83,9,0.55)';
        ctx.strokeRect(xa + 0.5, y + 1.5, Math.max(1, xb - xa - 1), L.height - 3);
        ctx.setLineDash([]);
        if (xb - xa > 60) {
          ctx.fillStyle = 'rgba(146,64,14,0.85)';
          ctx.fillText(shortText('scope ' + d.name + '#' + d.span_id, 60), xa + 3, y + 5);
        }
      });
    });
    // bars
    var first = -1, last = -1;
    for (var l = 0; l < this.lanes.length; l++) {
      var LL = this.lanes[l], ly = TL.AXIS + LL.y - top;
      if (ly + LL.height < TL.AXIS || ly > H) continue;
      if (first < 0) first = LL.rowBase;
      last = LL.rowBase + LL.rows - 1;
    }
    for (var g = first; g >= 0 && g <= last; g++) {
      var row = this.rows[g], lastX = -1;
      for (var k = 0; k < row.length; k++) {
        var i = row[k];
        if (M.start[i] > v1) break;
        if (M.end[i] < v0) continue;
        var x = X(M.start[i]), w = Math.max(1, (M.end[i] - M.start[i]) * scale);
        if (w < 1.5 && Math.round(x) === lastX) continue;   // sub-pixel crowds: one mark per pixel
        lastX = Math.round(x);
        var y2 = this.barY(i) + 2, s = M.spans[i], kind = kindOf(s.kind);
        if (x < TL.GUTTER) { w -= TL.GUTTER - x; x = TL.GUTTER; }
        if (w <= 0) continue;
        ctx.fillStyle = s.status !== 'ok' ? ERROR_COLOR : KINDS[kind].color;
        ctx.globalAlpha = kind === 'agent' || kind === 'delegation' ? 0.35 : 0.85;
        ctx.fillRect(x, y2, w, TL.BAR);
        ctx.globalAlpha = 1;
        if (kind === 'wait') {   // waits hatched: idle time is visible as a shape
          ctx.strokeStyle = 'rgba(255,255,255,0.8)';
          ctx.beginPath();
          for (var hx = x - TL.BAR; hx < x + w; hx += 5) { ctx.moveTo(Math.max(hx, x), y2 + TL.BAR - Math.max(0, x - hx)); ctx.lineTo(Math.min(hx + TL.BAR, x + w), y2 + Math.max(0, hx + TL.BAR - x - w)); }
          ctx.stroke();
        }
        if (w > 40) {
          ctx.fillStyle = kind === 'agent' || kind === 'delegation' ? '#1f2937' : '#ffffff';
          ctx.save(); ctx.beginPath(); ctx.rect(x, y2, w, TL.BAR); ctx.clip();
          ctx.fillText(shortText(s.name, 80), x + 3, y2 + TL.BAR / 2 + 0.5);
          ctx.restore();
        }
        if (M.flags.has(i)) {
          ctx.strokeStyle = ERROR_COLOR; ctx.lineWidth = 2;
          ctx.strokeRect(x - 1, y2 - 1, w + 2, TL.BAR + 2);
          ctx.fillStyle = ERROR_COLOR;
          ctx.beginPath(); ctx.moveTo(x - 1, y2 - 3); ctx.lineTo(x + 6, y2 - 3); ctx.lineTo(x - 1, y2 + 4); ctx.closePath(); ctx.fill();
          ctx.lineWidth = 1;
        }
        if (this.highlight.has(i)) {
          ctx.strokeStyle = '#eab308'; ctx.lineWidth = 3;
          ctx.strokeRect(x - 2.5, y2 - 2.5, w + 5, TL.BAR + 5);
          ctx.lineWidth = 1;
        }
        if (i === this.selected) {
          ctx.strokeStyle = '#111827'; ctx.lineWidth = 2;
          ctx.strokeRect(x - 1, y2 - 1, w + 2, TL.BAR + 2);
          ctx.lineWidth = 1;
        }
      }
    }
    // handoffs and delegations as arrows between lanes, waits as dotted arrows to the awaited agent;
    // when many are in view they fade to thin lines, so they do not hide the bars.
    var arrows = [];
    for (var a = 0; a < M.n; a++) {
      var sp = M.spans[a], kd = sp.kind, target, style;
      if (kd === 'handoff' || kd === 'delegation') { target = sp.attributes.to_agent; style = 'handoff'; }
      else if (kd === 'wait') { target = sp.attributes.waiting_on; style = 'wait'; }
      else continue;
      if (target === undefined || target === null || !M.laneOf.has(String(target))) continue;
      var tl = M.laneOf.get(String(target));
      if (tl === this.laneOf[a]) continue;
      var t = kd === 'wait' ? (M.start[a] + M.end[a]) / 2 : M.start[a];
      if (t < v0 || t > v1) continue;
      var ax = X(t), ay = this.barY(a) + 2 + TL.BAR / 2;
      var TLn = this.lanes[tl], by = TL.AXIS + TLn.y + TL.PAD - top + (ay < TL.AXIS + TLn.y - top ? 0 : TLn.height - 2 * TL.PAD);
      if (Math.max(ay, by) < TL.AXIS || Math.min(ay, by) > H) continue;
      arrows.push([ax, ay, ax + (style === 'wait' ? 0 : 6), by, style === 'wait' ? '#6b7280' : '#d97706', style === 'wait']);
    }
    var crowded = arrows.length > 40;
    if (crowded) ctx.globalAlpha = 0.3;
    arrows.forEach(function (ar) { self.arrow(ctx, ar[0], ar[1], ar[2], ar[3], ar[4], ar[5], crowded); });
    ctx.globalAlpha = 1;
    // lineage of the hovered span, and the chain of the selected violation
    if (this.hover >= 0) {
      var h = this.hover;
      M.spans[h].links.forEach(function (id) {
        var j = M.idx.get(String(id));
        if (j !== undefined) self.arrow(ctx, X(M.end[j]), self.barY(j) + 2 + TL.BAR / 2, X(M.start[h]), self.barY(h) + 2 + TL.BAR / 2, '#2563eb', false);
      });
      (M.consumers[h] || []).forEach(function (j) {
        self.arrow(ctx, X(M.end[h]), self.barY(h) + 2 + TL.BAR / 2, X(M.start[j]), self.barY(j) + 2 + TL.BAR / 2, '#059669', false);
      });
    }
    for (var c = 0; c + 1 < this.chain.length; c++) {
      var p = this.chain[c], q = this.chain[c + 1];
      this.arrow(ctx, X(M.end[p]), this.barY(p) + 2 + TL.BAR / 2, X(M.start[q]), this.barY(q) + 2 + TL.BAR / 2, ERROR_COLOR, false);
    }
    ctx.restore();
    // gutter with lane names
    ctx.fillStyle = '#f3f4f6'; ctx.fillRect(0, TL.AXIS, TL.GUTTER - 4, H - TL.AXIS);
    this.lanes.forEach(function (L) {
      var y = TL.AXIS + L.y - top;
      if (y > H || y + L.height < TL.AXIS) return;
      ctx.save(); ctx.beginPath(); ctx.rect(0, Math.max(y, TL.AXIS), TL.GUTTER - 6, L.height); ctx.clip();
      ctx.fillStyle = L.agent === null ? '#9ca3af' : '#4c1d95';
      ctx.font = '600 12px system-ui, sans-serif';
      ctx.fillText(shortText(L.agent === null ? '(no agent)' : L.agent, 40), 8, Math.max(y, TL.AXIS) + 12);
      ctx.restore();
    });
    // time axis
    ctx.fillStyle = '#ffffff'; ctx.fillRect(0, 0, W, TL.AXIS);
    ctx.strokeStyle = '#d1d5db'; ctx.beginPath(); ctx.moveTo(0, TL.AXIS - 0.5); ctx.lineTo(W, TL.AXIS - 0.5); ctx.stroke();
    var step = niceStep((v1 - v0) / Math.max(2, plotW / 110));
    ctx.fillStyle = '#6b7280'; ctx.font = '11px system-ui, sans-serif';
    for (var tt = Math.ceil((v0 - M.t0) / step) * step + M.t0; tt <= v1; tt += step) {
      var tx = X(tt);
      if (tx < TL.GUTTER) continue;
      ctx.fillRect(tx, TL.AXIS - 6, 1, 6);
      ctx.fillText(fmtDur(tt - M.t0), tx + 3, 10);
    }
    ctx.fillStyle = '#374151'; ctx.font = '600 11px system-ui, sans-serif';
    ctx.fillText('agents \u2193  time \u2192', 8, 10);
  };
  Timeline.prototype.arrow = function (ctx, x1, y1, x2, y2, color, dotted, thin) {
    ctx.save();
    ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = thin ? 1 : 1.5;
    if (dotted) ctx.setLineDash([2, 3]);
    ctx.beginPath(); ctx.moveTo(x1, y1);
    var mx = (x1 + x2) / 2;
    if (Math.abs(x2 - x1) > 8) ctx.bezierCurveTo(mx, y1, mx, y2, x2, y2); else ctx.lineTo(x2, y2);
    ctx.stroke(); ctx.setLineDash([]);
    if (thin) { ctx.restore(); return; }
    var ang = Math.abs(x2 - x1) > 8 ? (x2 > x1 ? 0 : Math.PI) : (y2 > y1 ? Math.PI / 2 : -Math.PI / 2);
    ctx.beginPath(); ctx.moveTo(x2, y2);
    ctx.lineTo(x2 - 7 * Math.cos(ang - 0.4), y2 - 7 * Math.sin(ang - 0.4));
    ctx.lineTo(x2 - 7 * Math.cos(ang + 0.4), y2 - 7 * Math.sin(ang + 0.4));
    ctx.closePath(); ctx.fill();
    ctx.restore();
  };
  function niceStep(raw) {
    if (!(raw > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
  }

  // ------------------------------------------------------------------ details
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
      flags.forEach(function (v) {
        var viol = M.violations[v];
        var box = add(body, el('div', 'finding'));
        add(box, el('b', null, viol.rule + ': '));
        add(box, el('span', null, viol.message));
      });
    }
    if (s.error || s.status !== 'ok') {
      add(body, el('h3', null, 'Error'));
      var err = s.error || {};
      add(body, el('div', 'error mono', (err.type ? err.type + ': ' : s.status + ' ') + (err.message !== undefined ? jsonText(err.message) : '')));
    }
    var kv = add(body, el('table', 'kv'));
    function rowKV(k, v) {
      var tr = add(kv, el('tr'));
      add(tr, el('td', null, k));
      var td = add(tr, el('td'));
      if (v instanceof Node) td.appendChild(v); else td.textContent = v === null || v === undefined ? '\u2014' : String(v);
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
      var pre = add(body, el('pre', null, text.length > 20000 ? text.slice(0, 20000) : text));
      if (text.length > 20000) {
        var more = add(body, el('button', 'link', 'show all ' + text.length + ' characters'));
        more.addEventListener('click', function () { pre.textContent = text; more.remove(); });
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
        chipV.title = k + ' = ' + v;
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

  // ------------------------------------------------------------------ snapshot diff
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
      la.title = a ? a.text : ''; lb.title = b ? b.text : '';
    });
    var list = diff.changes || [];
    if (list.length) {
      add(body, el('h3', null, 'Changes (' + list.length + ')'));
      var ul = add(body, el('ul', 'changes mono'));
      list.slice(0, 500).forEach(function (c) { add(ul, el('li', null, changeText(c))); });
    }
  }

  // ------------------------------------------------------------------ entry view
  function renderEntry(host, entry, number) {
    clear(host);
    var t0 = performance.now();
    var headPanel = add(host, el('section', 'panel'));
    var head = add(headPanel, el('div', 'entry-head'));
    add(head, el('span', 'badge o-' + entry.outcome, entry.outcome));
    add(head, el('span', 'title', entry.name));
    if (entry.duration !== null && entry.duration !== undefined) add(head, el('span', 'hint', 'test took ' + fmtDur(entry.duration * 1e9)));
    if (entry.message) add(headPanel, el('pre', 'message', entry.message));
    if (entry.output) {
      var full = add(headPanel, el('details', 'output'));
      add(full, el('summary', 'hint', 'full pytest output'));
      add(full, el('pre', 'message', entry.output));
    }
    if (entry.record === undefined || entry.record === null) {
      add(headPanel, el('div', 'panel-body hint', 'This test recorded no trace.'));
      return null;
    }
    var record = readJSON('agenttrace-record-' + entry.record);
    var M = buildModel(record);
    var tr = M.trace;
    var facts = add(head, el('span', 'hint', M.n + ' spans \u00b7 ' + M.agentNames.filter(function (a) { return a !== null; }).length + ' agents \u00b7 ' + fmtDur(M.t1 - M.t0)));
    facts.title = 'trace ' + (tr.trace_id || '') + ' started ' + (tr.started_at || '');
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
        chip.title = k + ' = ' + versions[k] + (isChanged ? ' (changed since the golden)' : '');
      });
    }
    var meta = tr.metadata || {};
    if (meta.git_commit) add(head, el('span', 'hint', 'commit ' + meta.git_commit));

    var tree, timeline, details, current = -1;
    if (M.violations.length) {
      var vp = add(host, el('section', 'panel'));
      var vh = add(vp, el('h2', null, 'Violations (' + M.violations.length + ')'));
      add(vh, el('span', 'hint', 'click one to highlight its spans and chain'));
      var list = add(vp, el('ul', 'violations'));
      M.violations.forEach(function (v, vi) {
        var li = add(list, el('li', 'violation'));
        li.dataset.index = String(vi);
        var line = add(li, el('div'));
        if (v.detector) add(line, el('span', 'tag', 'detector'));
        add(line, el('span', 'rule', v.rule));
        add(line, el('span', null, v.message));
        if (v.expected || v.found) add(li, el('div', 'ef', (v.expected ? 'expected: ' + v.expected : '') + (v.expected && v.found ? '  \u00b7  ' : '') + (v.found ? 'found: ' + v.found : '')));
        if (v.details && Object.keys(v.details).length) add(li, el('div', 'ef mono more', shortText(v.details, 300)));
        if (v.source) add(li, el('div', 'ef more', 'rule at ' + v.source));
        var refs = add(li, el('div', 'spans'));
        var ids = v.chain && v.chain.length ? v.chain : v.spans;
        ids.forEach(function (id, k) {
          var j = M.idx.get(String(id));
          if (k) add(refs, el('span', 'arrow', v.chain && v.chain.length ? '\u2192' : ''));
          var b = add(refs, el('button', 'spanref', j === undefined ? '#' + id + ' (missing)' : M.spans[j].kind + ':' + shortText(M.spans[j].name, 40) + ' #' + id));
          b.addEventListener('click', function (ev) { ev.stopPropagation(); activate(vi); if (j !== undefined) reveal(j); });
        });
        li.addEventListener('click', function () { activate(vi); });
      });
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
    var counter = add(filters, el('span', 'count', M.n + ' spans'));
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
      } else counter.textContent = M.n + ' spans';
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
    // Open on the first violation so the cause is in view at once.
    if (M.violations.length) activate(0);
    return api.view;
  }

  // ------------------------------------------------------------------ page
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
      add(tr, el('td', 'name', e.name));
      add(tr, el('td', 'num', sm.spans !== undefined ? sm.spans + ' spans' : 'no trace'));
      add(tr, el('td', 'num' + (sm.violations ? ' bad' : ''), sm.violations ? sm.violations + ' violations' : ''));
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
    function show(i) {
      rows.forEach(function (tr) { tr.classList.remove('current'); });
      if (rows[i]) rows[i].classList.add('current');
      if (location.hash !== '#t' + i) history.replaceState(null, '', '#t' + i);
      renderEntry(view, entries[i], i);
    }
    window.agenttrace.show = show;
    if (!entries.length) {
      add(view, el('section', 'panel')).appendChild(el('div', 'panel-body hint', 'No recorded tests in this session.'));
    } else {
      var fromHash = /^#t(\d+)$/.exec(location.hash);
      var start = fromHash && entries[+fromHash[1]] ? +fromHash[1] : order[0];
      show(start);
    }
  }

  window.agenttrace = { ready: false, tti: null, errors: [] };
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
})();
