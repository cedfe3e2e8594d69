// The radio page (web/dashboard.py): the signal figure follows the page stream's "signal"
// feed (an AT+CSQ every few seconds while the page is open; see live.js).
(function () {
  "use strict";
  var figure = document.getElementById("signal-figure");
  var read = document.getElementById("signal-read");
  if (!figure) { return; }
  document.addEventListener("live:signal", function (e) {
    var d = e.detail || {};
    figure.textContent = d.label || "unknown";
    figure.setAttribute("data-csq", d.csq === null || d.csq === undefined ? "" : String(d.csq));
    if (read && d.at) { read.textContent = "read at " + new Date(d.at * 1000).toISOString().slice(11, 19) + " UTC"; }
  });
})();
