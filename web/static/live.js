// Live pages: listen to /live/events (server-sent events, web/live.py) and, when a topic the
// page shows changes (body[data-live] lists them: messages, calls, webhooks, health), fetch
// the page again and swap in the parts marked data-live (by id); forms are never replaced.
// Plain JavaScript, no build step; the Content-Security-Policy allows only this file.
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-live-url");
  if (!url || !window.EventSource) { return; }
  var topics = (body.getAttribute("data-live") || "").split(/\s+/).filter(Boolean);
  var state = document.getElementById("live-state");
  var sound = document.getElementById("live-sound");
  var SOUND_KEY = "panel.sound";
  var audio = null;
  var pending = null;
  var busy = false;

  function setState(name) {
    if (state) { state.className = "live-state " + name; state.title = "Live updates: " + name; }
  }

  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.25);
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + 0.25);
    } catch (e) { /* no audio: nothing to do */ }
  }

  if (sound) {
    sound.checked = window.localStorage && localStorage.getItem(SOUND_KEY) === "1";
    sound.addEventListener("change", function () {
      if (window.localStorage) { localStorage.setItem(SOUND_KEY, sound.checked ? "1" : "0"); }
      if (sound.checked) { beep(); }  // a click is the gesture browsers want before audio
    });
  }

  function atBottom() {
    var el = document.scrollingElement || document.documentElement;
    return el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  }

  function refresh() {
    if (busy) { pending = true; return; }
    busy = true;
    var stick = atBottom();
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Live": "1" } })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (old) {
          var fresh = doc.getElementById(old.id);
          if (fresh) { old.replaceWith(document.importNode(fresh, true)); }
        });
        if (stick && document.getElementById("live-thread")) {
          window.scrollTo(0, document.documentElement.scrollHeight);
        }
        body.setAttribute("data-live-refreshed", String(Date.now()));
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () {
        busy = false;
        if (pending) { pending = false; refresh(); }
      });
  }

  // What the page shows, per topic; the stream is opened with it (?v=) so that a change made
  // between rendering the page and connecting is sent at once, and reopened with the latest
  // after the server ends a stream (bye) or turns it away (busy).
  var known = {};
  try { known = JSON.parse(body.getAttribute("data-live-versions") || "{}"); } catch (e) { known = {}; }
  var source = null;

  function connect() {
    source = new EventSource(url + "?v=" + encodeURIComponent(JSON.stringify(known)));
    source.addEventListener("open", function () { setState("on"); });
    source.addEventListener("error", function () { setState("off"); });
    source.addEventListener("bye", function () { reopen(100); });
    source.addEventListener("busy", function () { setState("off"); reopen(5000); });
    ["messages", "calls", "webhooks", "health"].forEach(function (topic) {
      source.addEventListener(topic, function (e) {
        var data = {};
        try { data = JSON.parse(e.data); } catch (err) { return; }
        if (topic === "messages" && sound && sound.checked && data.inbound > 0) { beep(); }
        delete data.inbound;
        known[topic] = data;
        if (topics.indexOf(topic) >= 0) { refresh(); }
      });
    });
  }

  function reopen(delay) {
    if (source) { source.close(); source = null; }
    window.setTimeout(connect, delay);
  }

  window.addEventListener("pagehide", function () { if (source) { source.close(); } });
  connect();
  if (document.getElementById("live-thread")) { window.scrollTo(0, document.documentElement.scrollHeight); }
})();
