/* The filter box, and the parts drawn when opened. Without scripts every row and section
   written in the page shows, and the box stays hidden. */
(function () {
  "use strict";
  var bar = document.getElementById("filterbar");
  var box = document.getElementById("filter");
  var out = document.getElementById("filtercount");
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };

  /* -- drawn when opened: the per-resource blocks, a check's items, the credentials. The
     data is #report-data (report_model.drawn_when_opened; gzipped JSON in base64):
     positional lists whose strings are indexes into D.s. Every string goes into the page as
     text (textContent), a name in its own <bdi>: never as markup. */
  var D = null;
  var S = function (i) { return D.s[i]; };
  function unpack(text) { /* base64 -> gunzip (the browser's own DecompressionStream) -> JSON */
    var raw = atob(text.trim());
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) { bytes[i] = raw.charCodeAt(i); }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).json();
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i += 1) {
      var c = arguments[i];
      parent.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return parent;
  }
  function ref(r) { /* [name, id]: the name, and the id when it says more */
    var f = document.createDocumentFragment();
    add(f, el("bdi", "nm", S(r[0])));
    if (r[0] !== r[1]) { add(f, el("bdi", "id", S(r[1]))); }
    return f;
  }
  function list(title, items, empty, draw) {
    var ul = el("ul");
    items.forEach(function (it) { add(ul, draw(it)); });
    if (!items.length) { add(ul, el("li", "muted", empty)); }
    return add(el("div"), el("h4", null, title), ul);
  }
  function plural(n, one, many) { return n.toLocaleString("en") + " " + (n === 1 ? one : many); }

  function memberItem(p) { /* [name, id, access, implied, role] */
    var implied = p[3] === 1;
    var level = el("span", "c " + (S(p[2]) === "view" ? "weak" : "strong") + (implied ? " implied" : ""), S(p[2]));
    if (implied) { add(level, el("i", null, "implied: " + S(p[4]))); }
    return add(el("li"), el("bdi", null, S(p[0])), " ", level, el("bdi", "id", S(p[1])));
  }
  function credentialItem(c) { /* [name, kind, last seen] */
    return add(el("li"), el("bdi", null, S(c[0])), el("span", "id", S(c[1]) + ", last seen " + (S(c[2]) || "–")));
  }
  function childItem(c) { /* [edge, kind, name, [[edge, name], ...]] */
    var li = add(el("li"), el("span", "muted", S(c[0])), " " + S(c[1]) + " ", add(el("b"), el("bdi", null, S(c[2]))));
    c[3].forEach(function (o) { add(li, " ", el("span", "muted", S(o[0])), " ", el("bdi", null, S(o[1]))); });
    return li;
  }
  function resourceBody(r) { /* [ref, members, credentials, children] */
    return add(el("div", "three"),
      list("Team members", r[1], "nobody", memberItem),
      list("Credentials", r[2], "none", credentialItem),
      list("Also", r[3], "nothing", childItem));
  }
  function resourceText(r) { /* what the filter matches in a block not drawn yet */
    var t = [];
    r[1].forEach(function (p) { t.push(S(p[0]), S(p[1]), S(p[2])); });
    r[2].forEach(function (c) { t.push(S(c[0])); });
    r[3].forEach(function (c) { t.push(S(c[2])); c[3].forEach(function (o) { t.push(S(o[1])); }); });
    return t.join(" ");
  }
  function whenOpened(details, draw) { /* draw once, on the first opening */
    var drawn = false;
    var go = function () { if (!drawn) { drawn = true; draw(); } };
    details._draw = go;
    if (details.open) { go(); }
    details.addEventListener("toggle", function () { if (details.open) { go(); } });
  }
  function drawResources(section) {
    var host = document.getElementById("res-list");
    var openAll = section.getAttribute("data-open-all") === "1";
    D.r.forEach(function (r) {
      var d = el("details", "res");
      d.setAttribute("data-f", "");
      var summary = add(el("summary"), ref(r[0]), " ", el("span", "count",
        plural(r[1].length, "member", "members") + ", " + plural(r[2].length, "credential", "credentials") + ", " + r[3].length + " more"));
      add(d, summary);
      d.open = openAll;
      d._text = resourceText(r);
      add(host, d);
      whenOpened(d, function () { add(d, resourceBody(r)); });
      register(d);
    });
  }
  function findingRow(i) { /* [name, id, message, its severity if not the group's] */
    var msg = add(el("td"));
    if (i.length > 3) { add(msg, el("span", "sev-" + S(i[3]), S(i[3])), " "); }
    add(msg, el("bdi", null, S(i[2])));
    return add(el("tr"), add(el("td"), ref(i)), msg);
  }
  function drawFindings(group, items) {
    var tbody = group.querySelector("tbody");
    var rows = document.createDocumentFragment();
    items.forEach(function (i) { add(rows, findingRow(i)); });
    add(tbody, rows);
  }
  function joined(parent, items, draw) {
    items.forEach(function (it, n) { if (n) { add(parent, "; "); } draw(it); });
    return parent;
  }
  function credentialRow(c) { /* [name, kind, holders, [[access, on]], sends, last seen] */
    var tr = el("tr");
    tr.setAttribute("data-f", "");
    var holders = el("td");
    c[2].forEach(function (h) { add(holders, ref(h)); });
    var may = el("td");
    joined(may, c[3], function (a) {
      add(may, S(a[0]) + " ", add(el("span", "muted"), "on ", el("bdi", null, S(a[1]))));
    });
    var sends = el("td");
    if (c[4] === 1) { sends.textContent = "yes"; } else {
      joined(sends, c[4], function (t) { add(sends, el("bdi", null, S(t))); });
    }
    add(tr, add(el("td"), el("bdi", null, S(c[0])), el("span", "id", S(c[1]))), holders, may, sends, el("td", null, S(c[5])));
    return tr;
  }
  function drawCredentials() {
    var tbody = document.getElementById("cred-table").tBodies[0];
    var rows = document.createDocumentFragment();
    var made = D.c.map(credentialRow);
    made.forEach(function (tr) { add(rows, tr); });
    add(tbody, rows);
    made.forEach(register);
  }

  /* -- the filter box */
  var text = function (el) {
    return (el.textContent + " " + (el.getAttribute("data-t") || "") + " " + (el._text || "")).toLowerCase();
  };
  var items = [];
  var query = "";
  function matches(it) { return !query || it[1].indexOf(query) >= 0; }
  function register(e) { /* an item drawn later is filtered as the ones written in the page */
    var it = [e, text(e)];
    items.push(it);
    e.hidden = !matches(it);
  }
  function drawWhenOpened() {
    each(document.querySelectorAll("#findings details.group"), function (g, n) {
      var found = D.f[n];
      g._text = found.map(function (i) { return S(i[0]) + " " + S(i[1]) + " " + S(i[2]); }).join(" ");
      items.forEach(function (it) { if (it[0] === g) { it[1] = text(g); g.hidden = !matches(it); } });
      whenOpened(g, function () { drawFindings(g, found); });
    });
    var resources = document.getElementById("resources");
    whenOpened(resources, function () { drawResources(resources); });
    whenOpened(document.getElementById("credentials"), drawCredentials);
    document.body.setAttribute("data-drawn", "");
  }
  each(document.querySelectorAll("[data-f]"), function (e) { items.push([e, text(e)]); });
  unpack(document.getElementById("report-data").textContent).then(function (data) {
    D = data;
    drawWhenOpened();
  });

  var matrix = document.getElementById("matrix");
  var heads = [], rows = [];
  if (matrix) {
    each(matrix.tHead.rows[0].cells, function (th) {
      if (th.hasAttribute("data-col")) { heads.push([th.cellIndex, text(th)]); }
    });
    each(matrix.tBodies[0].rows, function (tr) {
      var label = "";
      each(tr.querySelectorAll("[data-l]"), function (c) { label += " " + text(c); });
      rows.push([tr, label]);
    });
  }
  function showColumn(index, shown) {
    var value = shown ? "" : "none";
    matrix.tHead.rows[0].cells[index].style.display = value;
    each(matrix.tBodies[0].rows, function (tr) { tr.cells[index].style.display = value; });
  }
  var hiddenColumns = {};
  function apply() {
    var q = query = box.value.trim().toLowerCase();
    var shown = 0;
    items.forEach(function (it) {
      var ok = matches(it);
      it[0].hidden = !ok;
      if (ok) { shown += 1; }
    });
    var rowHit = !q || rows.some(function (r) { return r[1].indexOf(q) >= 0; });
    var colHit = !rowHit && heads.some(function (h) { return h[1].indexOf(q) >= 0; });
    var rowsShown = 0;
    rows.forEach(function (r) {
      var ok = !q || r[1].indexOf(q) >= 0 || colHit;
      r[0].hidden = !ok;
      if (ok) { rowsShown += 1; }
    });
    heads.forEach(function (h) {
      var hide = colHit && h[1].indexOf(q) < 0;
      if (hide !== !!hiddenColumns[h[0]]) { showColumn(h[0], !hide); hiddenColumns[h[0]] = hide; }
    });
    box.setAttribute("data-applied", q);
    out.value = q ? rowsShown + " matrix rows, " + shown + " other items match" : "";
  }
  var timer = null;
  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(apply, 80);
  });
  function openEverything() { /* printing: every part drawn, now, and every section open */
    each(document.querySelectorAll("details"), function (d) {
      d.open = true;
      if (d._draw) { d._draw(); }
    });
    each(document.querySelectorAll("details.res"), function (d) { d.open = true; d._draw(); });
  }
  window.addEventListener("beforeprint", openEverything);
  bar.hidden = false;
})();
