// The AT monitor (web/atmonitor.py): append the lines the page's stream sends ("at" feed,
// see live.js) to the table; keep the newest MAX_ROWS; follow the end when already there.
(function () {
  "use strict";
  var MAX_ROWS = 1000;
  var ARROWS = { tx: "\u2192", rx: "\u2190", urc: "\u2605" };
  var lines = document.getElementById("atlog-lines");
  var table = document.getElementById("atlog");
  if (!lines || !table) { return; }
  // data-live-feed is "at:<modem>:<last seq>[:bodies]"; live.js reads it at each reconnection.
  var parts = table.getAttribute("data-live-feed").split(":");
  var last = Number(parts[2]) || 0;

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function when(seconds) {
    var d = new Date(seconds * 1000);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds());
  }
  function cell(text, cls) {
    var td = document.createElement("td");
    if (cls) {
      td.className = cls;
      var code = document.createElement("code");
      code.textContent = text;  // text, never HTML: the modem's lines are untrusted
      td.appendChild(code);
    } else {
      td.textContent = text;
    }
    return td;
  }

  document.addEventListener("live:at", function (e) {
    var el = document.scrollingElement || document.documentElement;
    var follow = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    var empty = document.getElementById("atlog-empty");
    if (empty) { empty.remove(); }
    (e.detail.lines || []).forEach(function (l) {
      if (l.seq <= last) { return; }  // already shown
      last = l.seq;
      var tr = document.createElement("tr");
      tr.className = "at-" + l.dir;
      tr.setAttribute("data-seq", String(l.seq));
      tr.appendChild(cell(when(l.at)));
      tr.appendChild(cell(ARROWS[l.dir] || "?"));
      tr.appendChild(cell(l.text, "text"));
      lines.appendChild(tr);
    });
    parts[2] = String(last);
    table.setAttribute("data-live-feed", parts.join(":"));
    while (lines.rows.length > MAX_ROWS) { lines.deleteRow(0); }
    if (follow) { window.scrollTo(0, el.scrollHeight); }
  });
})();
