  // The span tree: virtualised rows, expand/collapse, filter, highlight, keyboard.
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
    setTitle(chip, String(s.kind));
    var name = add(row, el('span', 'name', s.name));
    setTitle(name, s.name);
    newStamps(M, i).slice(0, 2).forEach(function (v) { setTitle(add(row, el('span', 'vchip', v)), v); });
    if (M.flags.has(i)) {
      var rules = flagRules(M, i);
      var flag = add(row, el('span', 'flag', '! ' + rules.join(', ')));
      setTitle(flag, rules);
    }
    add(row, el('span', 'sp'));
    var agent = add(row, el('span', 'agent', s.agent === null ? '' : s.agent));
    setTitle(agent, 'agent: ' + (s.agent === null ? '(none)' : s.agent));
    var scopeSpan = s.scope === null ? undefined : M.idx.get(String(s.scope));
    var scopeText = s.scope === null ? '' : (scopeSpan !== undefined ? M.spans[scopeSpan].name + '#' : '') + s.scope;
    var scope = add(row, el('span', 'scope', scopeText));
    setTitle(scope, s.scope === null ? 'no delegation scope' : 'delegation scope: ' + scopeText + ' (path ' + s.scope_path.join(' > ') + ')');
    add(row, el('span', 'dur', fmtDur(M.end[i] - M.start[i])));
    var st = add(row, el('span', 'st ' + (s.status === 'ok' ? 'ok' : 'err'), s.status === 'ok' ? '\u2713' : '\u2717'));
    setTitle(st, String(s.status));
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
