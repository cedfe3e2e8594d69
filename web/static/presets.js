// Presets: a <select data-fills="<input id>"> copies the chosen value into that input (the
// built-in twimlets offered for a number's Voice URL, web/numbers.py), for the user to complete.
// Plain JavaScript, no build step, loaded as a file (the Content-Security-Policy allows no inline script).
(function () {
  "use strict";
  var selects = document.querySelectorAll("select[data-fills]");
  Array.prototype.forEach.call(selects, function (select) {
    select.addEventListener("change", function () {
      var target = document.getElementById(select.getAttribute("data-fills"));
      if (!target || !select.value) { return; }
      target.value = select.value;
      target.focus();
    });
  });
})();
