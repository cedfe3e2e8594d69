// Live pages: listen to /live/events (server-sent events, web/live.py) and, when a topic the
// page shows changes (body[data-live] lists them: messages, calls, webhooks, health), fetch
// the page again and swap in the parts marked data-live (by id); forms are never replaced.
// The unread total in the menu and the title follows every "messages" event.
//
// One stream per browser, not per tab: a browser opens at most six HTTP/1.1 connections to
// a host and an EventSource holds one, so tabs share a stream through a SharedWorker running
// this same file (the "hub" below).  Where there is no SharedWorker (Chrome on Android), or
// the page asks its stream for a feed of its own (data-live-feed: the AT monitor, a modem's
// signal), the page runs the hub itself.  A stream refused (503: the server's streams are all
// taken; or signed out) is tried again after 5 s, then 10, 20... up to a minute.
// Plain JavaScript, no build step; the Content-Security-Policy allows only the panel's files.
(function (scope) {
  "use strict";
  var TOPICS = ["messages", "calls", "webhooks", "health"];
  var BUSY_FIRST_MS = 5000;  // first wait after a refused stream (web/live.py BUSY_RETRY_MS)
  var BUSY_MAX_MS = 60000;   // the wait doubles up to this

  // The hub: one EventSource, the versions it has seen, reconnection with back-off.
  // emit(message) is told of everything: {type: "state"|"event"|"feed", ...}.
  function Hub(url, versions, feed, emit) {
    var known = versions || {};
    var source = null;
    var timer = null;
    var delay = 0;
    var state = "off";
    var stopped = false;
    var last = {};  // the last extra data per topic (the unread total), for tabs joining late

    function setState(s) { state = s; emit({ type: "state", state: s }); }

    function close() {
      if (source) { source.close(); source = null; }
      if (timer) { scope.clearTimeout(timer); timer = null; }
    }

    function later(ms) {
      close();
      if (!stopped) { timer = scope.setTimeout(connect, ms); }
    }

    function refused() {
      delay = delay ? Math.min(BUSY_MAX_MS, delay * 2) : BUSY_FIRST_MS;
      setState("busy");
      later(Math.round(delay * (0.8 + 0.4 * Math.random())));  // jitter: tabs do not return together
    }

    function connect() {
      timer = null;
      var q = "?v=" + encodeURIComponent(JSON.stringify(known));
      var f = typeof feed === "function" ? feed() : feed;  // read again: it may have moved on
      if (f) { q += "&feed=" + encodeURIComponent(f); }
      var es = new EventSource(url + q);
      source = es;
      es.addEventListener("hello", function () { delay = 0; setState("on"); });
      es.addEventListener("error", function () {
        if (es !== source) { return; }
        // CLOSED: the answer was not a stream (503 busy, or the sign-in page); CONNECTING:
        // the connection dropped and the browser retries by itself.
        if (es.readyState === 2) { refused(); } else { setState("off"); }
      });
      es.addEventListener("bye", function () { later(100); });
      es.addEventListener("busy", function () { refused(); });
      TOPICS.forEach(function (topic) {
        es.addEventListener(topic, function (e) {
          var data;
          try { data = JSON.parse(e.data); } catch (err) { return; }
          var extra = { inbound: data.inbound, unread: data.unread };
          delete data.inbound;
          delete data.unread;
          known[topic] = data;
          last[topic] = { unread: extra.unread };
          emit({ type: "event", topic: topic, extra: extra });
        });
      });
      es.addEventListener("feed", function (e) {
        try {
          var msg = JSON.parse(e.data);
          emit({ type: "feed", name: msg.name, data: msg.data });
        } catch (err) { /* not ours */ }
      });
    }

    return {
      start: connect,
      stop: function () { stopped = true; close(); },
      state: function () { return state; },
      // The topics that moved since a page was rendered from `rendered`, with their extras.
      since: function (rendered) {
        return TOPICS.filter(function (t) {
          return rendered && rendered[t] && known[t] &&
            JSON.stringify(rendered[t]) !== JSON.stringify(known[t]);
        }).map(function (t) { return { topic: t, extra: last[t] || {} }; });
      }
    };
  }

  // -- in a SharedWorker: one hub for every tab ----------------------------------------------
  if (typeof scope.SharedWorkerGlobalScope !== "undefined" && scope instanceof scope.SharedWorkerGlobalScope) {
    var ports = [];
    var hub = null;
    var broadcast = function (msg) { ports.forEach(function (p) { p.postMessage(msg); }); };
    scope.addEventListener("connect", function (e) {
      var port = e.ports[0];
      port.addEventListener("message", function (m) {
        var msg = m.data || {};
        if (msg.type === "hello") {
          if (ports.indexOf(port) < 0) { ports.push(port); }
          if (!hub) {
            hub = Hub(msg.url, msg.versions, "", broadcast);
            hub.start();
          } else {
            port.postMessage({ type: "state", state: hub.state() });
            hub.since(msg.versions).forEach(function (c) {
              port.postMessage({ type: "event", topic: c.topic, extra: c.extra });
            });
          }
        } else if (msg.type === "bye") {
          ports = ports.filter(function (p) { return p !== port; });
          if (!ports.length && hub) { hub.stop(); hub = null; }
        }
      });
      port.start();
    });
    return;
  }

  // -- in a page ------------------------------------------------------------------------------
  if (typeof document === "undefined") { return; }
  var script = document.currentScript;
  var body = document.body;
  var url = body.getAttribute("data-live-url");
  if (!url || !window.EventSource) { return; }
  var topics = (body.getAttribute("data-live") || "").split(/\s+/).filter(Boolean);
  var feedEl = document.querySelector("[data-live-feed]");
  var feed = feedEl ? feedEl.getAttribute("data-live-feed") : "";
  var state = document.getElementById("live-state");
  var sound = document.getElementById("live-sound");
  var total = document.getElementById("unread-total");
  var SOUND_KEY = "panel.sound";
  var BEEP_KEY = "panel.beeped";
  var title = document.title.replace(/^\(\d+\+?\) /, "");
  var audio = null;
  var pending = false;
  var busy = false;

  function setState(name) {
    if (state) { state.className = "live-state " + name; state.title = "Live updates: " + name; }
    body.setAttribute("data-live-state", name);
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

  function beepOnce() {
    // Every tab hears the event; one beep is enough.
    try {
      var now = Date.now();
      if (now - Number(localStorage.getItem(BEEP_KEY) || 0) < 1500) { return; }
      localStorage.setItem(BEEP_KEY, String(now));
    } catch (e) { /* no storage: beep anyway */ }
    beep();
  }

  if (sound) {
    sound.checked = window.localStorage && localStorage.getItem(SOUND_KEY) === "1";
    sound.addEventListener("change", function () {
      if (window.localStorage) { localStorage.setItem(SOUND_KEY, sound.checked ? "1" : "0"); }
      if (sound.checked) { beep(); }  // a click is the gesture browsers want before audio
    });
  }

  function setUnread(n) {
    if (typeof n !== "number") { return; }
    if (total) {
      total.textContent = n > 99 ? "99+" : String(n);
      total.hidden = n === 0;
    }
    document.title = (n > 0 ? "(" + (n > 99 ? "99+" : n) + ") " : "") + title;
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

  function receive(msg) {
    if (msg.type === "state") {
      setState(msg.state);
    } else if (msg.type === "event") {
      var extra = msg.extra || {};
      if (msg.topic === "messages") {
        if (sound && sound.checked && extra.inbound > 0) { beepOnce(); }
        setUnread(extra.unread);
      }
      if (topics.indexOf(msg.topic) >= 0) { refresh(); }
    } else if (msg.type === "feed") {
      document.dispatchEvent(new CustomEvent("live:" + msg.name, { detail: msg.data }));
    }
  }

  // What the page shows, per topic; the stream is opened with it (?v=) so that a change made
  // between rendering the page and connecting is sent at once.
  var versions = {};
  try { versions = JSON.parse(body.getAttribute("data-live-versions") || "{}"); } catch (e) { versions = {}; }

  var local = null;
  function runHere() {
    if (local) { return; }
    // The feed is read at each connection: a page moves it on as it goes (the AT monitor
    // keeps the number of its last line there), so a new stream does not send lines again.
    local = Hub(url, versions, function () {
      return feedEl ? feedEl.getAttribute("data-live-feed") : "";
    }, receive);
    local.start();
    window.addEventListener("pagehide", function () { if (local) { local.stop(); } });
  }

  if (!feed && window.SharedWorker && script && script.src) {
    try {
      var worker = new SharedWorker(script.src, { name: "panel-live" });
      var port = worker.port;
      var hello = function () { port.postMessage({ type: "hello", url: url, versions: versions }); };
      port.onmessage = function (e) { receive(e.data || {}); };
      worker.onerror = function () { runHere(); };
      port.start();
      hello();
      window.addEventListener("pagehide", function () { port.postMessage({ type: "bye" }); });
      window.addEventListener("pageshow", function (e) { if (e.persisted) { hello(); } });
      body.setAttribute("data-live-shared", "1");
    } catch (e) {
      runHere();
    }
  } else {
    runHere();
  }
  if (document.getElementById("live-thread")) { window.scrollTo(0, document.documentElement.scrollHeight); }
})(self);
