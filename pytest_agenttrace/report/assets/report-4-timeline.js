  // The waterfall timeline on a canvas: one lane per agent, scopes, handoffs, lineage.
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
    if (this.M.flags.has(i)) lines.push('flagged: ' + flagRules(this.M, i).join(', '));
    this.tip.textContent = lines.map(visible).join('\n');
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
