/* The filter box; without scripts every row and section shows, and the box stays hidden. */
(function () {
  "use strict";
  var bar = document.getElementById("filterbar");
  var box = document.getElementById("filter");
  var out = document.getElementById("filtercount");
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };
  var text = function (el) {
    return (el.textContent + " " + (el.getAttribute("data-t") || "")).toLowerCase();
  };
  var items = [];
  each(document.querySelectorAll("[data-f]"), function (el) { items.push([el, text(el)]); });
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
    var q = box.value.trim().toLowerCase();
    var shown = 0;
    items.forEach(function (it) {
      var ok = !q || it[1].indexOf(q) >= 0;
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
  window.addEventListener("beforeprint", function () {
    each(document.querySelectorAll("details"), function (d) { d.open = true; });
  });
  bar.hidden = false;
})();
