"""Simulated calls, in one import: remote parties, call legs, audio and call routing.

This module is the voice API of the simulator for scripts and tests (and what
``docs/simulator.md`` imports from); the code lives in one module per concept:

* ``party.py`` — scripted remote parties (:class:`RemoteParty` and its steps
  :class:`Say`, :class:`Play`, :class:`Digits`, :class:`Silence`, :class:`WaitHeard`,
  :class:`Hangup`);
* ``call.py`` — :class:`SimCall`, one leg of a call on one modem, and its 27.007 states;
* ``audioport.py`` — :class:`AudioPort`, the modem's audio pty and its 20 ms clock;
* ``pcm.py`` — the 8 kHz S16LE mono frame format, speech (espeak-ng) and file loading;
* ``voicenetwork.py`` — :class:`VoiceNetwork`, call routing on the network (mixed into
  ``network.Network``), and :class:`Callee`, how a dialled number answers;
* ``voiceline.py`` / ``voicecommands.py`` / ``calldialect.py`` — the modem's side: its
  legs, its call AT commands and the URCs of its family's dialect.
"""

from __future__ import annotations

from .audioport import AudioPort
from .call import SimCall
from .errors import VoiceError
from .party import Digits, Hangup, Play, RemoteParty, Say, Silence, Step, WaitHeard
from .pcm import FRAME_BYTES, FRAME_SECONDS, RATE, load_audio, render_speech
from .voicenetwork import Callee, VoiceNetwork

__all__ = [
    "FRAME_BYTES",
    "FRAME_SECONDS",
    "RATE",
    "AudioPort",
    "Callee",
    "Digits",
    "Hangup",
    "Play",
    "RemoteParty",
    "Say",
    "SimCall",
    "Silence",
    "Step",
    "VoiceError",
    "VoiceNetwork",
    "WaitHeard",
    "load_audio",
    "render_speech",
]
