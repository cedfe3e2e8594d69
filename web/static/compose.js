// Composing: the saved-template picker beside a message body, and the browser's time zone
// for a scheduled send.  Markup: <div data-template-picker="textarea-id" hidden> holding a
// <select> whose options carry data-body; choosing one copies its text into the textarea
// (and the segment counter follows).  <input data-browser-zone> gets the browser's zone name
// when it is empty.  Plain JavaScript, no build step; without it the forms still work.
(function () {
  "use strict";

  function bindPicker(box) {
    var area = document.getElementById(box.getAttribute("data-template-picker"));
    var select = box.querySelector("select");
    if (!area || !select || select.options.length < 2) { return; }
    box.hidden = false;
    select.addEventListener("change", function () {
      var option = select.options[select.selectedIndex];
      if (!option || !option.hasAttribute("data-body")) { return; }
      area.value = option.getAttribute("data-body");
      area.dispatchEvent(new Event("input", { bubbles: true }));
      area.focus();
    });
  }

  function fillZone(input) {
    if (input.value) { return; }
    try {
      input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) { /* an old browser: the server takes an empty zone as UTC */ }
  }

  function start() {
    document.querySelectorAll("[data-template-picker]").forEach(bindPicker);
    document.querySelectorAll("input[data-browser-zone]").forEach(fillZone);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
