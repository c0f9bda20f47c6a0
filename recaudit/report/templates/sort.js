(function () {
  "use strict";
  document.documentElement.className += " js";
  function keyOf(row, col) {
    var cell = row.cells[col];
    if (!cell) return "";
    var k = cell.getAttribute("data-key");
    return k === null ? cell.textContent.trim() : k;
  }
  function sortBy(table, th, col) {
    var type = th.getAttribute("data-type");
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    var heads = table.querySelectorAll("th[data-type]");
    for (var i = 0; i < heads.length; i++) heads[i].removeAttribute("aria-sort");
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = [];
    for (var r = 0; r < body.rows.length; r++) rows.push([body.rows[r], r]);
    rows.sort(function (p, q) {
      var a = keyOf(p[0], col), b = keyOf(q[0], col);
      if (type === "num") {
        var x = parseFloat(a), y = parseFloat(b);
        if (isNaN(x) || isNaN(y)) {
          if (isNaN(x) && isNaN(y)) return p[1] - q[1];
          return isNaN(x) ? 1 : -1;
        }
        if (x !== y) return dir * (x - y);
      } else {
        var c = a.localeCompare(b);
        if (c !== 0) return dir * c;
      }
      return p[1] - q[1];
    });
    for (var j = 0; j < rows.length; j++) body.appendChild(rows[j][0]);
  }
  var tables = document.querySelectorAll("table.sortable");
  for (var t = 0; t < tables.length; t++) {
    (function (table) {
      var cells = table.tHead.rows[0].cells;
      for (var c = 0; c < cells.length; c++) {
        (function (th, col) {
          if (!th.hasAttribute("data-type")) return;
          var button = document.createElement("button");
          button.type = "button";
          button.className = "sort";
          button.title = "Sort by " + th.textContent.trim();
          while (th.firstChild) button.appendChild(th.firstChild);
          th.appendChild(button);
          button.addEventListener("click", function () { sortBy(table, th, col); });
        })(cells[c], c);
      }
    })(tables[t]);
  }
})();
