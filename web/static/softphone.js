// The softphone (web/softphone.py): Twilio's official Voice JavaScript SDK, served by the panel
// (/sdk/twilio.min.js), registered under panel_phone_identity with a token the panel mints.
// Nothing comes from Twilio: chunderw is this appliance's HTTPS port, the sounds are its own,
// publishEvents is off.  window.softphone exposes the Device and the current call (for tests
// and the browser's console).
(function () {
  "use strict";
  var box = document.getElementById("softphone");
  if (!box) { return; }
  var $ = function (id) { return document.getElementById(id); };
  var statusLine = $("phone-status"), form = $("phone-form"), to = $("phone-to");
  var callButton = $("phone-call"), muteButton = $("phone-mute"), hangupButton = $("phone-hangup");
  var ringing = $("phone-incoming"), digits = $("phone-digits");
  var state = { device: null, call: null, incoming: null };
  var failure = "";  // the last error while a call is up: said when it ends
  window.softphone = state;

  function say(text) { statusLine.textContent = text; }
  function who(address) {
    if (!address) { return "an unknown caller"; }
    return address.indexOf("client:") === 0 ? address.slice(7) + " (browser phone)" : address;
  }
  function inCall(active) {
    muteButton.disabled = !active;
    hangupButton.disabled = !active;
    callButton.disabled = active || !state.device || state.device.state !== "registered";
    if (!active) {
      muteButton.setAttribute("aria-pressed", "false");
      digits.textContent = "";
    }
  }

  async function fetchToken() {
    var rv = await fetch(box.getAttribute("data-token-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": box.getAttribute("data-csrf") },
    });
    var body = await rv.json().catch(function () { return {}; });
    if (!rv.ok || !body.token) {
      throw new Error(body.error || "the panel refused a token (HTTP " + rv.status + ")");
    }
    return body.token;
  }

  function follow(call, label) {
    state.call = call;
    call.on("accept", function () { say("In a call with " + label + "."); inCall(true); });
    call.on("ringing", function () { say("Ringing " + label + "…"); });
    call.on("mute", function (muted) {
      muteButton.setAttribute("aria-pressed", muted ? "true" : "false");  // the name stays "Mute"
      say(muted ? "Muted: " + label + " cannot hear you." : "In a call with " + label + ".");
    });
    failure = "";
    var ended = function (text) {
      return function () {
        if (state.call === call) { state.call = null; }
        inCall(false);
        say(failure ? "Call ended by an error: " + failure + ". Ready." : text);
      };
    };
    call.on("disconnect", ended("Call ended. Ready."));
    call.on("cancel", ended("Call ended. Ready."));
    call.on("reject", ended("Call rejected. Ready."));
    call.on("error", function (e) {
      failure = e.code + " " + e.message;
      say("Call error " + failure + ".");
    });
  }

  function ring(call) {
    if (state.call || state.incoming) { call.reject(); return; }  // one call at a time
    state.incoming = call;
    var label = who(call.parameters.From);
    $("phone-caller").textContent = label;
    ringing.hidden = false;
    say("Incoming call from " + label + ".");
    var gone = function (text) {
      return function () {
        if (state.incoming !== call) { return; }
        state.incoming = null;
        ringing.hidden = true;
        if (text) { say(text); }
      };
    };
    call.on("cancel", gone("Missed call from " + label + ". Ready."));
    call.on("disconnect", gone("Call ended. Ready."));
    call.on("error", gone("Call error. Ready."));
  }

  function answer() {
    var call = state.incoming;
    if (!call) { return; }
    state.incoming = null;
    ringing.hidden = true;
    var label = who(call.parameters.From);
    follow(call, label);
    say("Answering " + label + "…");
    call.accept();
  }

  function decline() {
    var call = state.incoming;
    if (!call) { return; }
    state.incoming = null;
    ringing.hidden = true;
    call.reject();
    say("Call from " + who(call.parameters.From) + " rejected. Ready.");
  }

  async function start() {
    if (!window.isSecureContext) {
      $("phone-insecure").hidden = false;
      say("The phone needs a secure (HTTPS) page for the microphone.");
      return;
    }
    if (typeof Twilio === "undefined" || !Twilio.Device) {
      say("The Voice SDK is not installed on this appliance (make sdk).");
      return;
    }
    var token;
    try { token = await fetchToken(); } catch (e) { say("No phone: " + e.message); return; }
    var device = new Twilio.Device(token, {
      chunderw: box.getAttribute("data-chunderw"),
      publishEvents: false,
      sounds: JSON.parse(box.getAttribute("data-sounds")),
      logLevel: "warn",
      closeProtection: true,
    });
    state.device = device;
    device.on("registered", function () {
      say("Ready: calls to " + box.getAttribute("data-identity") + " ring here.");
      inCall(Boolean(state.call));
    });
    device.on("unregistered", function () { say("Not registered."); callButton.disabled = true; });
    device.on("error", function (e) {
      if (state.call) { failure = e.code + " " + e.message; }
      say("Phone error " + e.code + ": " + e.message);
    });
    device.on("incoming", ring);
    device.on("tokenWillExpire", async function () {
      try { device.updateToken(await fetchToken()); } catch (e) { say("No new token: " + e.message); }
    });
    say("Registering…");
    try { await device.register(); } catch (e) { say("Not registered: " + e.message); }
  }

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    var target = to.value.trim();
    if (!target) { say("Type a number or a name to call."); to.focus(); return; }
    if (!state.device || state.call) { return; }
    callButton.disabled = true;
    say("Calling " + target + "…");
    try {
      follow(await state.device.connect({ params: { To: target } }), target);
      hangupButton.disabled = false;
    } catch (err) {
      say("Not called: " + err.message);
      inCall(false);
    }
  });
  box.querySelectorAll(".dialpad .key").forEach(function (key) {
    key.addEventListener("click", function () {
      var k = key.getAttribute("data-key");
      if (state.call && state.call.status() === "open") {
        state.call.sendDigits(k);
        digits.textContent += k;
      } else {
        to.value += k;
      }
    });
  });
  muteButton.addEventListener("click", function () {
    if (state.call) { state.call.mute(!state.call.isMuted()); }
  });
  hangupButton.addEventListener("click", function () {
    if (state.call) { state.call.disconnect(); }
  });
  $("phone-accept").addEventListener("click", answer);
  $("phone-reject").addEventListener("click", decline);
  start();
})();
