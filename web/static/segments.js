// The character and segment counter under SMS bodies: how many SMS a text becomes, and why.
// It follows appliance/sms/codec.py exactly (tests/web/test_compose.py checks it against the
// codec in Chromium): GSM 03.38 default alphabet, its extension table (each character costs
// two septets: escape + code), otherwise UCS-2 for the whole message (a character outside the
// BMP costs two UTF-16 units); 160 septets or 70 units in one SMS, 153 or 67 per part once
// split (the concatenation header takes the rest), and a part never splits an escape pair or
// a surrogate pair.  Twilio refuses bodies over 1600 characters (code points), error 21617.
// Markup: <p data-segments-for="textarea-id"></p>; optionally data-segments-if="select-id"
// and data-segments-value="text" to show it only while that select has that value.
// Plain JavaScript, no build step; window.SmsSegments.analyse(text) is the counter itself.
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ" + "ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENSION = "\f^{}\\[~]|€";
  var GSM7_SINGLE = 160, GSM7_MULTI = 153, UCS2_SINGLE = 70, UCS2_MULTI = 67;
  var MAX_BODY_CHARS = 1600;
  var basic = {}, extension = {};
  Array.from(BASIC).forEach(function (c) { basic[c] = true; });
  Array.from(EXTENSION).forEach(function (c) { extension[c] = true; });

  function gsmCost(c) { return extension[c] ? 2 : 1; }
  function ucsCost(c) { return c.codePointAt(0) > 0xFFFF ? 2 : 1; }

  // {encoding, units, segments, perSegment, chars, because: [non-GSM characters], tooLong}
  function analyse(text) {
    var chars = Array.from(text || "");
    var because = [];
    chars.forEach(function (c) {
      if (!basic[c] && !extension[c] && because.indexOf(c) < 0) { because.push(c); }
    });
    var gsm = because.length === 0;
    var cost = gsm ? gsmCost : ucsCost;
    var single = gsm ? GSM7_SINGLE : UCS2_SINGLE;
    var multi = gsm ? GSM7_MULTI : UCS2_MULTI;
    var units = 0;
    chars.forEach(function (c) { units += cost(c); });
    var segments = 1, used = 0;
    if (units > single) {  // greedy, as codec._chunk: a character never straddles two parts
      chars.forEach(function (c) {
        var n = cost(c);
        if (used + n > multi) { segments += 1; used = 0; }
        used += n;
      });
    }
    return {
      encoding: gsm ? "GSM-7" : "UCS-2",
      units: units,
      segments: segments,
      perSegment: segments > 1 ? multi : single,
      chars: chars.length,
      because: because,
      extended: chars.filter(function (c) { return extension[c]; }).length,
      tooLong: chars.length > MAX_BODY_CHARS
    };
  }

  function shown(c) {  // an invisible or blank character by its code point
    if (/[\p{Z}\p{C}]/u.test(c)) {
      return "U+" + c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
    }
    return c;
  }

  function describe(a) {
    if (a.tooLong) {
      return a.chars + " characters: over Twilio's limit of " + MAX_BODY_CHARS + " (error 21617)";
    }
    var why = a.encoding;
    if (a.because.length) {
      why += " because of " + a.because.slice(0, 3).map(shown).join(" ") +
        (a.because.length > 3 ? " …" : "");
    } else if (a.extended) {
      why += "; " + a.extended + (a.extended === 1 ? " character counts" : " characters count") + " 2";
    }
    var unit = a.encoding === "GSM-7" ? "septets" : "UTF-16 units";
    return a.segments + (a.segments === 1 ? " segment" : " segments") + " (" + why + ") · " +
      a.units + " " + unit + ", " + a.perSegment + " per segment";
  }

  function bind(out) {
    var area = document.getElementById(out.getAttribute("data-segments-for"));
    if (!area) { return; }
    var gate = document.getElementById(out.getAttribute("data-segments-if") || "");
    var wanted = out.getAttribute("data-segments-value");
    out.setAttribute("aria-live", "polite");
    function update() {
      var a = analyse(area.value);
      out.hidden = Boolean(gate && gate.value !== wanted);
      out.textContent = describe(a);
      out.setAttribute("data-segments", String(a.segments));
      out.setAttribute("data-encoding", a.encoding);
      out.setAttribute("data-units", String(a.units));
      out.classList.toggle("over", a.tooLong);
      out.classList.toggle("ucs2", !a.tooLong && a.encoding === "UCS-2");
    }
    area.addEventListener("input", update);
    if (gate) { gate.addEventListener("change", update); }
    update();
  }

  window.SmsSegments = { analyse: analyse, describe: describe };
  function start() { document.querySelectorAll("[data-segments-for]").forEach(bind); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
