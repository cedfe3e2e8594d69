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

  var source = new EventSource(url);
  source.addEventListener("open", function () { setState("on"); });
  source.addEventListener("error", function () { setState("off"); });
  source.addEventListener("busy", function () { setState("off"); });
  ["messages", "calls", "webhooks", "health"].forEach(function (topic) {
    source.addEventListener(topic, function (e) {
      if (topic === "messages" && sound && sound.checked) {
        try { if (JSON.parse(e.data).inbound > 0) { beep(); } } catch (err) { /* ignore */ }
      }
      if (topics.indexOf(topic) >= 0) { refresh(); }
    });
  });
  if (document.getElementById("live-thread")) { window.scrollTo(0, document.documentElement.scrollHeight); }
})();
