  /* pytest-agenttrace report page (report/html.py joins the report-*.js files in name order inside one function).
   *
   * Reads the JSON blocks written by report/html.py and draws, per test: the
   * violations, the snapshot diff, a waterfall timeline (one lane per agent) on
   * a canvas, and a virtualised span tree with a details panel.
   *
   * Trace content is untrusted model output: every text from the data goes into
   * the page through textContent (or canvas fillText), never through innerHTML,
   * attributes that take URLs, or event-handler attributes.
   */
  // Shared helpers: kinds and colours, DOM building (textContent only), formatting.
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

  // Bidirectional controls and invisible characters in trace data are shown as escapes (as the terminal
  // does): an override could make a name read as another ("evil" as "live"), a zero-width space could make
  // two different names look the same.
  var INVISIBLE = /[\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/g;
  function visible(text) {
    return String(text).replace(INVISIBLE, function (c) {  // replace() with a /g pattern keeps no state between calls
      return '\\u' + ('000' + c.charCodeAt(0).toString(16)).slice(-4);
    });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = visible(text);
    return e;
  }
  function add(parent, child) {  // returns the child, for chaining
    parent.appendChild(child);
    return child;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // "1 span", "3 spans": a count with its noun.
  function counted(n, noun) {
    return n + ' ' + noun + (n === 1 ? '' : 's');
  }
  // As the terminal's format_duration: round first, then pick the unit, so 999999ns is "1ms", never "1000\u00b5s".
  var DUR_UNITS = [['\u00b5s', 1e3], ['ms', 1e6], ['s', 1e9]];
  function fmtDur(ns) {
    if (!isFinite(ns)) return '';
    if (ns < 0) return '-' + fmtDur(-ns);
    if (ns === 0) return '0';
    if (Math.round(ns) < 1e3) return Math.round(ns) + 'ns';
    for (var u = 0; u < DUR_UNITS.length; u++) {
      var value = +(ns / DUR_UNITS[u][1]).toPrecision(3);
      if (value < 1000 || DUR_UNITS[u][0] === 's') {
        if (DUR_UNITS[u][0] !== 's' || value < 60) return value + DUR_UNITS[u][0];
        break;
      }
    }
    var total = Math.round(ns / 1e9);
    var m = Math.floor(total / 60);
    var r = total - m * 60;
    return m + 'm' + (r < 10 ? '0' : '') + r + 's';
  }
  function jsonText(value) {
    if (typeof value === 'string') return value;
    try { return JSON.stringify(value, null, 2); } catch (e) { return String(value); }
  }
  function shortText(value, limit) {
    var t = visible(typeof value === 'string' ? value : jsonText(value));
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
