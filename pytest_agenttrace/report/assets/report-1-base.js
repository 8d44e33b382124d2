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

  // Characters shown as escapes, the set the terminal tree escapes (report/terminal.py): controls (C0, DEL,
  // C1), line and paragraph separators, bidirectional controls (an override could make "evil" read as
  // "live"), the format characters and default-ignorable code points that show as nothing (zero-width
  // spaces and joiners, soft hyphen, Hangul fillers, variation selectors, tag characters, the BOM) so
  // two different names cannot look the same, and surrogates (a lone one is not text).  The 'u' flag
  // matches a character above U+FFFF whole; a lone surrogate is matched on its own.
  // Egyptian hieroglyph format controls (U+13430-U+1343F) show as nothing too.  The prepended concatenation
  // marks (U+0600-U+0605 and others), format characters as well, are drawn: they are kept.
  var UNSAFE_REST = '\\x0b-\\x1f\\x7f-\\x9f\\xad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180b-\\u180f\\u200b-\\u200f' +
    '\\u2028\\u2029\\u202a-\\u202e\\u2060-\\u206f\\u3164\\ud800-\\udfff\\ufe00-\\ufe0f\\ufeff\\uffa0\\ufff0-\\ufffb' +
    '\\u{13430}-\\u{1343f}\\u{1bca0}-\\u{1bca3}\\u{1d173}-\\u{1d17a}\\u{e0000}-\\u{e0fff}';
  var UNSAFE = new RegExp('[\\x00-\\x0a' + UNSAFE_REST + ']', 'gu');
  var UNSAFE_IN_LINES = new RegExp('[\\x00-\\x08' + UNSAFE_REST + ']', 'gu');  // keeps tab and newline
  var NAMED = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
  function hex(code, width) { return ('0000000' + code.toString(16)).slice(-width); }
  // As the terminal writes them: \n \r \t, \xNN up to U+00FF, \uNNNN, \UNNNNNNNN above U+FFFF.
  function escapeChar(c) {
    if (NAMED[c]) return NAMED[c];
    var code = c.codePointAt(0);
    return code <= 0xff ? '\\x' + hex(code, 2) : code <= 0xffff ? '\\u' + hex(code, 4) : '\\U' + hex(code, 8);
  }
  // One line of trace text as shown (the result holds no unsafe character: escaping it again changes nothing).
  function visible(text) {
    return String(text).replace(UNSAFE, escapeChar);  // replace() with a /g pattern keeps no state between calls
  }
  // The same for a block of text shown on several lines: newlines and tabs are kept.
  function visibleLines(text) {
    return String(text).replace(UNSAFE_IN_LINES, escapeChar);
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = visible(text);
    return e;
  }
  // An element showing a block of text (a failure message, a payload): newlines kept, the rest escaped.
  function textBlock(tag, cls, text) {
    var e = el(tag, cls);
    e.textContent = visibleLines(text);
    return e;
  }
  // A tooltip: each line escaped, the lines kept.
  function setTitle(node, lines) {
    node.title = (Array.isArray(lines) ? lines : [lines]).map(visible).join('\n');
    return node;
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
  // Cutting shown text never splits an escape ("\u200b") or the two halves of a character above U+FFFF:
  // span(t, i) is the [start, end) of what covers the cut at i (i, i when nothing does).
  var ESCAPE_LENGTH = { x: 4, u: 6, U: 10, n: 2, r: 2, t: 2 };
  function span(t, i) {
    for (var k = i - 1; k >= 0 && k >= i - 9; k--) {
      if (t[k] !== '\\') continue;
      var end = k + (ESCAPE_LENGTH[t[k + 1]] || 1);
      if (end > i) return [k, end];
      break;
    }
    var c = t.charCodeAt(i - 1);
    if (c >= 0xd800 && c <= 0xdbff) return [i - 1, i + 1];
    return [i, i];
  }
  function cutEnd(t, limit) {
    if (t.length <= limit) return t;
    return t.slice(0, span(t, Math.max(limit - 1, 0))[0]) + '\u2026';
  }
  // The middle of a long text left out ("tests/test_x.py::test[aaa\u2026zzz]"): both ends stay readable.
  function cutMiddle(t, limit) {
    if (t.length <= limit) return t;
    var keep = Math.max(limit - 1, 2), tail = Math.floor(keep * 0.4);
    return t.slice(0, span(t, keep - tail)[0]) + '\u2026' + t.slice(span(t, t.length - tail)[1]);
  }
  // One line for any value: strings as they are, other values as compact JSON, escaped and cut.
  function shortText(value, limit) {
    var t = typeof value === 'string' ? value : JSON.stringify(value);
    return cutEnd(visible(t === undefined ? String(value) : t), limit);
  }
  function readJSON(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  function debounce(fn, ms) {
    var timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }
