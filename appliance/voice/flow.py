"""One call's TwiML: fetch documents, run their verbs on the call's audio, end the call.

A :class:`CallFlow` is a thread per live call.  It asks the voice URL (or the
REST API's Url/Twiml) for TwiML, answers or rejects, and runs the verbs: Say
(espeak-ng), Play, Pause, Gather (DTMF with barge-in), Record, Dial, Hangup,
Reject, Redirect, Sms/Message.  AT work (answer, hang up, dial) runs on the modem
thread through :meth:`appliance.voice.Phone.run`; audio goes through
:class:`appliance.audio.Media`.  Whatever happens (the caller hangs up mid-verb,
the webhook fails, the modem stops answering), the flow ends the call and stops
its media, so neither a call nor a thread nor the audio port is left stuck.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance import sids
from appliance.errors import StoreClosed
from appliance.voice import call
from appliance.voice.call import CallLeg, Step
from appliance.voice.engine import call_params, enqueue_status

if TYPE_CHECKING:
    from appliance.sms.outbox import Outbox
    from appliance.store.database import Row, Store
    from appliance.voice.audio import Media, Playback
    from appliance.voice.engine import Phone
    from appliance.webhooks.client import WebhookClient, WebhookResult

LOGGER = logging.getLogger(__name__)

APOLOGY = "We're sorry, an application error has occurred. Goodbye."
CALLER_ID_WAIT = 3.0  # seconds after RING to wait for the line carrying the caller ID
MAX_LOOP = 1000  # loop="0" ("until the call ends") still has a bound
TWIML_TYPES = ("text/xml", "application/xml", "text/html")
MAX_LOGGED_BODY = 4096


class CallEnded(Exception):
    """The call is over (the caller hung up, or the appliance ended it)."""


@dataclasses.dataclass
class Context:
    """Everything a flow needs from the daemon."""

    store: Store
    client: WebhookClient
    outbox: Outbox
    account_sid: Any  # Callable[[], str]
    base_url: Any  # Callable[[], str]
    recordings_dir: Path
    max_documents: int = 50
    on_job: Any = None  # Callable[[], None]: a webhook job was queued


class CallFlow:
    """Runs one call's TwiML on its own thread."""

    def __init__(self, phone: Phone, leg: CallLeg, ctx: Context) -> None:
        self.phone = phone
        self.leg = leg
        self.ctx = ctx
        self.sid = leg.sid
        self._poke = threading.Condition()
        self._digits: queue.Queue[str] = queue.Queue()
        self._answered = threading.Event()
        self._ended = threading.Event()
        self._control = threading.Event()
        self._media: Media | None = None
        self._merger: Any = None
        self._detector: Any = None
        self._cookies: str | None = None
        self._documents = 0
        self._doc_url = ""
        self._recorder_feed: Any = None
        self._thread = threading.Thread(target=self._main, name=f"call {leg.sid[:10]}", daemon=True)

    # -- any thread ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def notify(self, step: Step) -> None:
        """The modem thread applied an event to this call."""
        if step.answered_now:
            self._answered.set()
        if step.ended_now:
            self._ended.set()
            media = self._media
            if media is not None:
                media.flush()
        self._wake()

    def digit(self, digit: str, source: str) -> None:
        """A key press, from the in-band detector or a modem URC (merged, never doubled)."""
        merger = self._merger
        if merger is not None and not merger.add(digit, source=source, at=time.monotonic()):
            return
        self._digits.put(digit)
        self._wake()

    def stop(self) -> None:
        """The appliance is stopping: end the call at the next step (it is hung up)."""
        self._ended.set()
        media = self._media
        if media is not None:
            media.flush()
        self._wake()

    def control(self) -> None:
        """The REST API wrote calls.control (redirect or end)."""
        self._control.set()
        media = self._media
        if media is not None:
            media.flush()
        self._wake()

    def _wake(self) -> None:
        with self._poke:
            self._poke.notify_all()

    # -- the thread ----------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._run()
        except (CallEnded, StoreClosed):
            pass
        except Exception:  # noqa: BLE001 - a bug must still end the call and free the port
            LOGGER.exception("call %s: flow failed", self.sid)
            self._event("error", 0, "internal error in the call flow")
        finally:
            self._finish()

    def _finish(self) -> None:
        if self.leg.live:
            try:
                self.phone.run(lambda: self.phone.hangup(self.leg), timeout=30)
            except Exception as e:  # noqa: BLE001 - the modem may be gone; the phone ends it then
                LOGGER.warning("call %s: hang-up failed: %s", self.sid, e)
        media, self._media = self._media, None
        if media is not None:
            media.stop()
        self.phone.flows.pop(self.sid, None)

    def _row(self) -> Row:
        row = self.ctx.store.read_one("SELECT * FROM calls WHERE sid = ?", (self.sid,))
        if row is None:
            raise CallEnded()
        return row

    def _run(self) -> None:
        row = self._row()
        if self.leg.incoming:
            if not row["url"]:
                # No Voice URL: leave the call unanswered (it is logged; the caller gets
                # the network's no-answer handling) rather than answer with an error.
                LOGGER.info("call %s: no Voice URL for this number; not answering", self.sid)
                with self._poke:
                    while self.leg.live:
                        self._poke.wait(1.0)
                raise CallEnded()
            if not self.leg.caller_id_seen:
                # RING came first: give the +CLIP (or +CLCC) with the caller's number a moment,
                # so that the app's first request has From (empty only when it is withheld).
                end = time.monotonic() + CALLER_ID_WAIT
                while not self.leg.caller_id_seen and time.monotonic() < end:
                    self._sleep(0.05, interruptible=False)
                row = self._row()
            doc = self._first_document(row, call.RINGING)
            if doc is None:
                self._answer()
                self._say_apology()
                return
            verbs = list(doc.verbs)
            first: Any = verbs[0] if verbs else None
            if type(first).__name__ == "Reject":
                self._reject(first)
                return
            if type(first).__name__ == "Pause":
                self._sleep(float(first.length), interruptible=False)
                verbs.pop(0)
            self._answer()
        else:
            self._wait_answer()
            doc = self._first_document(self._row(), call.IN_PROGRESS)
            if doc is None:
                self._say_apology()
                return
            verbs = list(doc.verbs)
        self._start_media()
        self._execute(verbs, doc)

    # -- answering and ending ----------------------------------------------------------------

    def _answer(self) -> None:
        if not self.phone.run(lambda: self.phone.answer(self.leg), timeout=30):
            raise CallEnded()
        self._answered.set()

    def _wait_answer(self) -> None:
        # calls.control is read every second, not only when poked: an update can land
        # between the claim of the queued call and this flow being registered.
        cancel = False
        with self._poke:
            while not self._answered.is_set() and not self._ended.is_set():
                cancel = self._cancel_requested()
                if cancel:
                    break
                self._poke.wait(1.0)
        if cancel and not self._answered.is_set():
            self.phone.run(lambda: self.phone.hangup(self.leg, call.CANCELED), timeout=30)
            raise CallEnded()
        if self._ended.is_set() or not self.leg.live:
            raise CallEnded()

    def _cancel_requested(self) -> bool:
        """While our call rings: did the API ask to cancel or end it?"""
        raw = self._row()["control"]
        try:
            update = json.loads(raw) if raw else {}
        except ValueError:
            return False
        return update.get("status") in (call.CANCELED, call.COMPLETED)

    def _reject(self, verb: Any) -> None:
        status = call.BUSY if getattr(verb, "reason", "rejected") == "busy" else call.NO_ANSWER
        self.phone.run(lambda: self.phone.hangup(self.leg, status), timeout=30)
        raise CallEnded()

    def _hangup(self) -> None:
        self.phone.run(lambda: self.phone.hangup(self.leg), timeout=30)
        raise CallEnded()

    def _check(self) -> None:
        if self._ended.is_set() or not self.leg.live:
            raise CallEnded()

    # -- media ---------------------------------------------------------------------------------

    def _start_media(self) -> None:
        from appliance.voice.audio import Media, open_audio_port
        from appliance.voice.dtmf import DigitMerger, DtmfDetector

        self._check()
        self.phone.run(self.phone.enable_audio, timeout=30)
        if not self.phone.audio_port:
            LOGGER.warning("call %s: no audio port configured; audio verbs are silent", self.sid)
            return
        self._merger = DigitMerger()
        self._detector = DtmfDetector()
        port = open_audio_port(self.phone.audio_port)
        media = Media(port)
        media.add_listener(self._on_frame)
        media.start()
        self._media = media

    def _on_frame(self, frame: bytes) -> None:
        detector = self._detector
        if detector is not None:
            for d in detector.feed(frame):
                self.digit(d, "inband")
        feed = self._recorder_feed
        if feed is not None:
            feed(frame)

    def _play(self, source: bytes | Iterable[bytes], *, barge_in: bool) -> str | None:
        """Play audio; returns the digit that interrupted it (barge-in), else None."""
        self._check()
        media = self._media
        if media is None:
            return None
        playback: Playback = media.play(source)
        with self._poke:
            while not playback.done.is_set():
                self._check()
                if self._control.is_set():
                    playback.cancel()
                    media.flush()
                    return None
                if barge_in and not self._digits.empty():
                    playback.cancel()
                    media.flush()
                    return str(self._digits.queue[0])
                self._poke.wait(0.02)
        return None

    def _sleep(self, seconds: float, *, interruptible: bool = True, digits: bool = False) -> None:
        end = time.monotonic() + seconds
        with self._poke:
            while True:
                self._check()
                if interruptible and self._control.is_set():
                    return
                if digits and not self._digits.empty():
                    return
                left = end - time.monotonic()
                if left <= 0:
                    return
                self._poke.wait(min(left, 0.25))

    def _next_digit(self, timeout: float) -> str | None:
        end = time.monotonic() + timeout
        while True:
            self._check()
            if self._control.is_set():
                return None
            try:
                return self._digits.get_nowait()
            except queue.Empty:
                pass
            left = end - time.monotonic()
            if left <= 0:
                return None
            with self._poke:
                if self._digits.empty():
                    self._poke.wait(min(left, 0.25))

    def _clear_digits(self) -> None:
        while True:
            try:
                self._digits.get_nowait()
            except queue.Empty:
                return

    def _say_apology(self) -> None:
        if not self.leg.live:
            return
        if self._media is None:
            self._start_media()
        from appliance.voice import tts

        self._play(tts.speak(APOLOGY), barge_in=False)

    # -- documents -------------------------------------------------------------------------------

    def _first_document(self, row: Row, status: str) -> Any:
        if row["twiml"]:
            return self._parse(row["twiml"].encode(), self.ctx.base_url())
        url = row["url"]
        if not url:
            self._event("error", 11200, "no Voice URL configured for this number")
            return None
        return self._fetch(url, row["method"] or "POST", {}, status=status)

    def _fetch(
        self, url: str, method: str, extra: dict[str, str], *, status: str | None = None
    ) -> Any:
        """Request TwiML (the fallback URL if that fails); None if both fail."""
        self._documents += 1
        if self._documents > self.ctx.max_documents:
            self._event(
                "error", 11215, f"more than {self.ctx.max_documents} TwiML documents: a loop?"
            )
            return None
        row = self._row()
        params = call_params(row, self.ctx.account_sid(), status or self.leg.status)
        params.update(extra)
        result, self._cookies = self.ctx.client.request(url, method, params, cookies=self._cookies)
        doc, code, message = self._interpret(result)
        self._log(result, params, code, message)
        if doc is not None:
            return doc
        fallback = row["fallback_url"]
        if not fallback:
            return None
        params.update({"ErrorCode": str(code or 11200), "ErrorUrl": url})
        result, self._cookies = self.ctx.client.request(
            fallback, row["fallback_method"] or "POST", params, cookies=self._cookies
        )
        doc, code, message = self._interpret(result)
        self._log(result, params, code, message)
        return doc

    def _interpret(self, result: WebhookResult) -> tuple[Any, int | None, str | None]:
        if not result.ok:
            return (
                None,
                result.error_code or 11200,
                result.error_message or "HTTP retrieval failure",
            )
        ctype = (result.content_type or "").split(";")[0].strip().lower()
        if ctype == "text/plain":
            text = result.body.decode("utf-8", "replace")
            return _PlainText(text, result.url), None, None
        if ctype.startswith("audio/"):
            return _AudioBody(result.body, result.url), None, None
        if ctype and ctype not in TWIML_TYPES:
            return None, 12300, f"Invalid Content-Type: {ctype}"
        doc, code, message = self._parse_doc(result.body, result.url)
        if doc is not None:
            self._doc_url = result.url
        return doc, code, message

    def _parse_doc(self, body: bytes, url: str) -> tuple[Any, int | None, str | None]:
        """Voice TwiML -> (document, None, None), or (None, Twilio error code, message)."""
        from appliance.twiml import voice as twiml

        try:
            doc = twiml.parse(body, url)
        except twiml.TwimlError as e:
            return None, e.code, e.message
        self._warnings(doc)
        return doc, None, None

    def _parse(self, body: bytes, url: str) -> Any:
        """Inline TwiML (REST Twiml=, an update): a parse error is recorded on the call."""
        doc, code, message = self._parse_doc(body, url)
        if doc is None:
            self._event("error", code, message or "")
        return doc

    def _warnings(self, doc: Any) -> None:
        for w in getattr(doc, "warnings", ()):
            self._event("warning", getattr(w, "code", None), getattr(w, "message", str(w)))

    def _log(
        self, result: WebhookResult, params: dict[str, str], code: int | None, message: str | None
    ) -> None:
        now = time.time()
        self.ctx.store.write(
            lambda conn: conn.execute(
                "INSERT INTO webhook_log (job_id, message_sid, call_sid, url, method, request, status,"
                " response, error_code, error_message, at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    None,
                    None,
                    self.sid,
                    result.url,
                    result.method,
                    json.dumps(params, sort_keys=True),
                    result.status,
                    result.body[:MAX_LOGGED_BODY].decode("utf-8", "replace"),
                    code,
                    message,
                    now,
                ),
            )
        )
        if code is not None:
            self._event("error", code, message or "")

    def _event(self, kind: str, code: int | None, detail: str) -> None:
        now = time.time()
        if code or kind != "info":
            LOGGER.warning("call %s: %s %s %s", self.sid, kind, code or "", detail)
        self.ctx.store.write(
            lambda conn: conn.execute(
                "INSERT INTO call_events (call_sid, at, kind, error_code, detail) VALUES (?,?,?,?,?)",
                (self.sid, now, kind, code or None, detail[:2000]),
            )
        )

    # -- the verbs -----------------------------------------------------------------------------

    def _execute(self, verbs: list[Any], doc: Any) -> None:
        """Run verbs; a verb may hand back the next document (Redirect, actions)."""
        while True:
            nxt = None
            for verb in verbs:
                self._check()
                if self._control.is_set():
                    nxt = self._take_control()
                    break
                nxt = self._verb(verb, doc)
                if nxt is not None:
                    break
            if nxt is None and self._control.is_set():
                nxt = self._take_control()
            if nxt is None:
                self._hangup()  # no more verbs: Twilio ends the call
                return
            if nxt is _FAILED:
                self._say_apology()
                self._hangup()
                return
            doc = nxt
            verbs = list(doc.verbs)

    def _take_control(self) -> Any:
        self._control.clear()
        row = self._row()
        if not row["control"]:
            return None
        self.ctx.store.write(
            lambda conn: conn.execute("UPDATE calls SET control = NULL WHERE sid = ?", (self.sid,))
        )
        try:
            update = json.loads(row["control"])
        except ValueError:
            return None
        if update.get("status") in (call.COMPLETED, call.CANCELED):
            self._hangup()
        if update.get("twiml"):
            doc = self._parse(str(update["twiml"]).encode(), self.ctx.base_url())
            return doc if doc is not None else _FAILED
        if update.get("url"):
            doc = self._fetch(str(update["url"]), str(update.get("method") or "POST"), {})
            return doc if doc is not None else _FAILED
        return None

    def _verb(self, verb: Any, doc: Any) -> Any:
        name = type(verb).__name__
        handler = getattr(self, f"_do_{name.lower()}", None)
        if handler is None:
            self._event("error", 12200, f"<{name}> is not supported on this appliance; skipped")
            return None
        return handler(verb, doc)

    def _action(self, url: str | None, method: str, doc: Any, extra: dict[str, str]) -> Any:
        target = url or self._doc_url or self._row()["url"]
        if not target:
            return None
        result = self._fetch(target, method or "POST", extra)
        return result if result is not None else _FAILED

    def _loops(self, loop: int) -> range:
        return range(MAX_LOOP if loop == 0 else max(1, loop))

    def _do__plaintext(self, verb: _PlainText, doc: Any) -> Any:
        from appliance.voice import tts

        self._play(tts.speak(verb.text), barge_in=False)
        self._hangup()

    def _do__audiobody(self, verb: _AudioBody, doc: Any) -> Any:
        from appliance.voice import playback

        try:
            pcm = playback.decode_audio(verb.body)
        except Exception as e:  # noqa: BLE001 - any decoding failure is the app's error
            self._event("error", 12300, f"audio body could not be played: {e}")
        else:
            self._play(pcm, barge_in=False)
        self._hangup()

    def _do_say(self, verb: Any, doc: Any, *, barge_in: bool = False) -> Any:
        from appliance.voice import tts

        for _ in self._loops(int(verb.loop)):
            if not verb.text.strip():
                break
            digit = self._play(tts.speak(verb.text, verb.voice, verb.language), barge_in=barge_in)
            if digit is not None or self._control.is_set():
                return None
        return None

    def _do_play(self, verb: Any, doc: Any, *, barge_in: bool = False) -> Any:
        from appliance.voice import playback, tones

        if getattr(verb, "digits", None):
            self._play(tones.digits_audio(verb.digits), barge_in=False)
            return None
        if not verb.url:
            return None
        try:
            pcm = playback.fetch_audio(verb.url, timeout=15.0)
        except Exception as e:  # noqa: BLE001 - a failed fetch is recorded and skipped
            self._event("error", 11100, f"<Play> {verb.url}: {e}")
            return None
        for _ in self._loops(int(verb.loop)):
            digit = self._play(pcm, barge_in=barge_in)
            if digit is not None or self._control.is_set():
                return None
        return None

    def _do_pause(self, verb: Any, doc: Any, *, barge_in: bool = False) -> Any:
        self._sleep(float(verb.length), digits=barge_in)
        return None

    def _do_hangup(self, verb: Any, doc: Any) -> Any:
        self._hangup()

    def _do_reject(self, verb: Any, doc: Any) -> Any:
        self._hangup()  # after answering, Reject is a hang-up

    def _do_redirect(self, verb: Any, doc: Any) -> Any:
        result = self._fetch(verb.url, verb.method or "POST", {})
        return result if result is not None else _FAILED

    def _do_gather(self, verb: Any, doc: Any) -> Any:
        self._clear_digits()
        finish = verb.finish_on_key or ""
        wanted = verb.num_digits
        for child in getattr(verb, "children", ()):
            kind = type(child).__name__.lower()
            handler = getattr(self, f"_do_{kind}", None)
            if handler is None:
                continue
            handler(child, doc, barge_in=True)
            if not self._digits.empty() or self._control.is_set():
                break
        if self._control.is_set():
            return None
        entered = ""
        timeout = float(verb.timeout)
        while True:
            d = self._next_digit(timeout)
            if d is None:
                break
            if finish and d in finish:
                break
            entered += d
            if wanted and len(entered) >= int(wanted):
                break
        LOGGER.info("call %s: gathered %r", self.sid, entered)
        if not entered and not getattr(verb, "action_on_empty_result", False):
            return None
        return self._action(verb.action, verb.method, doc, {"Digits": entered})

    def _do_record(self, verb: Any, doc: Any) -> Any:
        from appliance.voice import tones
        from appliance.voice.recorder import Recorder, write_wav

        self._clear_digits()
        if verb.play_beep:
            self._play(tones.beep(), barge_in=False)
        recorder = Recorder(
            max_length=float(verb.max_length),
            silence_timeout=float(verb.timeout),
            finish_on_key=verb.finish_on_key,
            trim=str(verb.trim) != "do-not-trim",
            play_beep=False,
        )
        finished = threading.Event()

        def feed(frame: bytes) -> None:
            if recorder.feed(frame):
                finished.set()
                self._wake()

        started = time.time()
        self._recorder_feed = feed
        key = ""
        try:
            with self._poke:
                while not finished.is_set():
                    if self._ended.is_set() or not self.leg.live:
                        key = "hangup"
                        break
                    try:
                        d = self._digits.get_nowait()
                    except queue.Empty:
                        self._poke.wait(0.05)
                        continue
                    if recorder.on_digit(d):
                        key = d
                        break
        finally:
            self._recorder_feed = None
        if key == "hangup":
            recorder.hangup()
        pcm = recorder.result().pcm
        if not pcm:
            self._event("warning", 16102, "recording is silent; nothing stored")
            if key == "hangup":
                raise CallEnded()
            return None
        rec_sid = sids.new("RE")
        self.ctx.recordings_dir.mkdir(parents=True, exist_ok=True)
        path = self.ctx.recordings_dir / f"{rec_sid}.wav"
        write_wav(path, pcm)
        duration = round(len(pcm) / 16000)
        now = time.time()
        self.ctx.store.write(
            lambda conn: conn.execute(
                "INSERT INTO recordings (sid, call_sid, status, duration, channels, source, path,"
                " start_time, date_created, date_updated) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    rec_sid,
                    self.sid,
                    "completed",
                    duration,
                    1,
                    "RecordVerb",
                    str(path),
                    started,
                    now,
                    now,
                ),
            )
        )
        url = f"{self.ctx.base_url().rstrip('/')}/2010-04-01/Accounts/{self.ctx.account_sid()}/Recordings/{rec_sid}"
        extra = {
            "RecordingUrl": url,
            "RecordingSid": rec_sid,
            "RecordingDuration": str(duration),
            "Digits": key,
        }
        callback = getattr(verb, "recording_status_callback", None)
        if callback:
            params = {
                "AccountSid": self.ctx.account_sid(),
                "CallSid": self.sid,
                "RecordingSid": rec_sid,
                "RecordingUrl": url,
                "RecordingStatus": "completed",
                "RecordingDuration": str(duration),
                "RecordingChannels": "1",
                "RecordingSource": "RecordVerb",
            }
            enqueue_status(
                self.ctx.store,
                self.sid,
                callback,
                getattr(verb, "recording_status_callback_method", "POST"),
                params,
            )
            if self.ctx.on_job:
                self.ctx.on_job()
        if key == "hangup":
            # Twilio still requests the action; what it answers is not run.
            try:
                self._fetch_after_hangup(verb, doc, extra)
            finally:
                raise CallEnded()
        return self._action(verb.action, verb.method, doc, extra)

    def _fetch_after_hangup(self, verb: Any, doc: Any, extra: dict[str, str]) -> None:
        target = verb.action or self._doc_url or self._row()["url"]
        if not target:
            return
        row = self._row()
        params = call_params(row, self.ctx.account_sid(), call.COMPLETED)
        params.update(extra)
        result, self._cookies = self.ctx.client.request(
            target, verb.method or "POST", params, cookies=self._cookies
        )
        self._log(result, params, result.error_code, result.error_message)

    def _do_sms(self, verb: Any, doc: Any) -> Any:
        return self._do_message(verb, doc)

    def _do_message(self, verb: Any, doc: Any) -> Any:
        row = self._row()
        our = row["to_number"] if row["direction"] == "inbound" else row["from_number"]
        theirs = row["from_number"] if row["direction"] == "inbound" else row["to_number"]
        to = getattr(verb, "to", None) or theirs
        from_ = getattr(verb, "from_", None) or our
        body = getattr(verb, "body", "") or ""
        try:
            sid = self.ctx.outbox.enqueue(
                modem=self.phone.modem.name,
                from_number=from_,
                to=to,
                body=body,
                direction="outbound-reply",
                status_callback=getattr(verb, "status_callback", None)
                or getattr(verb, "action", None),
                status_callback_method=getattr(verb, "method", None) or "POST",
            )
        except Exception as e:  # noqa: BLE001 - a bad number or body in TwiML is the app's error
            self._event(
                "error", getattr(e, "code", None) or 14101, f"<Sms>/<Message> not sent: {e}"
            )
            return None
        LOGGER.info("call %s: queued message %s", self.sid, sid)
        return None

    def _do_dial(self, verb: Any, doc: Any) -> Any:
        from appliance.voice.dial import dial

        return dial(self, verb, doc)


@dataclasses.dataclass(frozen=True)
class _PlainText:
    """A text/plain answer: read aloud, then hang up (Twilio's rule)."""

    text: str
    url: str

    @property
    def verbs(self) -> tuple[Any, ...]:
        return (self,)


@dataclasses.dataclass(frozen=True)
class _AudioBody:
    """An audio/* answer: played, then hang up."""

    body: bytes
    url: str

    @property
    def verbs(self) -> tuple[Any, ...]:
        return (self,)


class _Failed:
    verbs: tuple[Any, ...] = ()


_FAILED: Any = _Failed()
