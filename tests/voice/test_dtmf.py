"""In-band DTMF detector against the figures in the issue, and the URC/in-band merger."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from appliance.voice import tones, tts
from appliance.voice.dtmf import DigitMerger, DtmfDetector

ALL = tones.DIGITS

# Talk-off (issue 11): what a caller's line carries besides digits, in many languages.
TALKOFF_TEXT = {
    "es": "Gracias por llamar al servicio de atención al cliente. Por favor, escuche atentamente "
    "las siguientes opciones, ya que nuestro menú ha cambiado recientemente. Si desea consultar "
    "el saldo de su cuenta, permanezca en la línea. Un agente le atenderá en breve; esta llamada "
    "puede ser grabada para mejorar la calidad del servicio.",
    "es-419": "Hola, ¿cómo estás? Te llamo porque mañana vamos a organizar una reunión en la "
    "oficina del centro. ¿Podrías confirmarme si vienes con tu hermana o si prefieres que "
    "pasemos a buscarte a las cinco de la tarde? Avísame por mensaje cuando puedas, así "
    "reservo la mesa.",
    "pt": "Obrigado por ligar para a nossa linha de apoio. Todos os nossos assistentes estão "
    "ocupados neste momento. Por favor, aguarde em linha; a sua chamada será atendida pela "
    "ordem de chegada. Também pode consultar a sua fatura e os seus consumos no nosso sítio "
    "na internet.",
    "pt-br": "Oi, tudo bem? Estou ligando para lembrar que a consulta com o doutor Ricardo foi "
    "remarcada para quinta-feira, às duas horas da tarde. Se você não puder comparecer, por "
    "favor entre em contato com a clínica para escolher um novo horário. Obrigada e até logo.",
    "fr-fr": "Bonjour et bienvenue sur le service client. Votre appel est important pour nous. "
    "Pour connaître le solde de votre compte, restez en ligne. Un conseiller va prendre votre "
    "appel dans quelques instants. Nous vous remercions de votre patience et de votre fidélité.",
    "de": "Guten Tag, Sie sind verbunden mit dem Kundenservice. Leider sind im Moment alle "
    "Mitarbeiter im Gespräch. Bitte bleiben Sie in der Leitung, Sie werden mit dem nächsten "
    "freien Mitarbeiter verbunden. Dieses Gespräch kann zu Schulungszwecken aufgezeichnet werden.",
    "it": "Buongiorno, grazie per aver chiamato. Tutti i nostri operatori sono momentaneamente "
    "occupati. La preghiamo di attendere in linea per non perdere la priorità acquisita. Per "
    "informazioni sugli orari di apertura dei nostri negozi, visiti il nostro sito internet.",
    "nl": "Goedemiddag, u spreekt met de klantenservice. Op dit moment zijn al onze medewerkers "
    "in gesprek. Blijft u aan de lijn, dan wordt u zo spoedig mogelijk geholpen. U kunt ook na "
    "de toon een bericht achterlaten met uw naam en telefoonnummer.",
    "pl": "Dzień dobry, dziękujemy za telefon. Wszyscy nasi konsultanci są obecnie zajęci. "
    "Prosimy pozostać na linii, połączenie zostanie przekazane pierwszemu wolnemu konsultantowi. "
    "Rozmowa może być nagrywana w celu poprawy jakości obsługi.",
    "tr": "Merhaba, müşteri hizmetlerine hoş geldiniz. Şu anda tüm temsilcilerimiz başka bir "
    "görüşmede. Lütfen hatta kalın, ilk boştaki temsilcimiz size yardımcı olacaktır. "
    "Görüşmeniz kalite standartları gereği kaydedilmektedir.",
    "sv": "Hej och välkommen till kundtjänst. Just nu har vi många samtal och alla våra "
    "handläggare är upptagna. Vänligen stanna kvar i linjen så kopplas du till nästa lediga "
    "handläggare. Du kan också besöka vår webbplats.",
    "ru": "Здравствуйте, вы позвонили в службу поддержки. Все операторы сейчас заняты. "
    "Пожалуйста, оставайтесь на линии, ваш звонок очень важен для нас. Вы также можете "
    "оставить сообщение после сигнала.",
    "en-us": "Thank you for calling. Please listen carefully, as our menu options have changed. "
    "To hear your balance, stay on the line. Your call may be recorded for quality and training "
    "purposes.",
}
# espeak-ng voice variants (male, female, Klatt, creaky), speeds (words/min) and pitches (0-99).
VARIANTS = ("+f2", "+Andrea", "+m3", "+f4", "+Alicia", "+klatt", "+belinda", "+m7", "+f1")
VARIANTS += ("+croak", "", "+f5", "+steph")
SPEEDS = (130, 175, 230, 290)
PITCHES = (20, 50, 85, 99)


def detect(pcm: bytes, chunk: int = 320) -> str:
    det = DtmfDetector()
    out: list[str] = []
    for i in range(0, len(pcm), chunk):
        out += det.feed(pcm[i : i + chunk])
    return "".join(out)


def dial(digits: str, on_ms: float = 40, off_ms: float = 40, **kw: float) -> bytes:
    return b"".join(tones.dtmf(d, on_ms, **kw) + tones.silence(off_ms) for d in digits)


@pytest.mark.parametrize("lead_in_samples", [0, 13, 26, 51, 77, 101])
def test_all_16_digits_at_40ms_tone_40ms_gap(lead_in_samples: int) -> None:
    pcm = tones.silence(lead_in_samples / 8) + dial(ALL)
    assert detect(pcm) == ALL


@pytest.mark.parametrize("offset", [0.015, -0.015])
@pytest.mark.parametrize("twist", [0.0, 4.0, -8.0])
def test_accepted_frequency_offsets_and_twist(offset: float, twist: float) -> None:
    assert detect(dial(ALL, 40, 40, freq_offset=offset, twist_db=twist)) == ALL


@pytest.mark.parametrize("offset", [0.035, -0.035, 0.05, -0.05])
def test_rejected_frequency_offsets(offset: float) -> None:
    assert detect(dial(ALL, 60, 60, freq_offset=offset)) == ""


@pytest.mark.parametrize("twist", [4.0, -8.0])
def test_accepted_twist(twist: float) -> None:
    assert detect(dial(ALL, 40, 40, twist_db=twist)) == ALL


@pytest.mark.parametrize("twist", [11.0, -12.0])
def test_excessive_twist_rejected(twist: float) -> None:
    assert detect(dial(ALL, 60, 60, twist_db=twist)) == ""


def test_15db_snr_white_noise_fixed_seed() -> None:
    rng = np.random.default_rng(20240915)
    digits = "".join(rng.choice(list(ALL), 300))
    clean = dial(digits) + tones.silence(100)
    # noise RMS 15 dB under each tone's level (-10 dBFS per tone)
    noisy = tones.add_noise(clean, -10.0 - 15.0, rng)
    assert detect(noisy) == digits


@pytest.mark.parametrize("on_ms", [15, 20, 23, 25])
def test_tones_of_25ms_or_less_are_rejected_at_every_alignment(on_ms: float) -> None:
    # ITU-T Q.24 (and Twilio): accept 40 ms, reject what is under about 23-25 ms.
    for lead_in_samples in range(51):
        pcm = tones.silence(lead_in_samples / 8) + dial(ALL, on_ms, 40)
        assert detect(pcm) == "", lead_in_samples


@pytest.mark.parametrize("twist", [0.0, 4.0, -8.0])
@pytest.mark.parametrize("offset", [0.0, 0.015, -0.015])
def test_40ms_tones_at_every_alignment_with_offset_and_twist(offset: float, twist: float) -> None:
    for lead_in_samples in range(0, 51, 5):
        pcm = tones.silence(lead_in_samples / 8) + dial(ALL, freq_offset=offset, twist_db=twist)
        assert detect(pcm) == ALL, lead_in_samples


def test_short_tones_and_dropouts() -> None:
    assert detect(dial(ALL, 18, 60)) == ""  # under 20 ms: never a digit
    # a dropout under 20 ms inside one key press does not split it
    split = tones.dtmf("5", 60) + tones.silence(15) + tones.dtmf("5", 60) + tones.silence(60)
    assert detect(split) == "5"
    # the same key pressed twice at 40/40 is two digits
    assert detect(dial("55")) == "55"


def test_long_press_is_one_digit_and_levels() -> None:
    assert detect(tones.dtmf("7", 2000) + tones.silence(50)) == "7"
    assert detect(dial("159", 50, 50, level_dbfs=-35.0)) == "159"
    assert detect(dial("159", 50, 50, level_dbfs=-50.0)) == ""
    assert detect(dial("159", 50, 50, level_dbfs=0.0)) == "159"


def test_feeding_in_any_chunking_gives_the_same_digits() -> None:
    pcm = tones.silence(33) + dial("0123456789") + tones.silence(50)
    assert detect(pcm, 1) == "0123456789"
    assert detect(pcm, 333) == "0123456789"
    assert detect(pcm, len(pcm)) == "0123456789"


def test_single_tones_noise_and_garbage_give_nothing() -> None:
    rng = np.random.default_rng(7)
    assert detect(tones.beep(2000, 697) + tones.beep(2000, 1336)) == ""
    assert detect(tones.to_pcm(tones.white_noise(5000, -10.0, rng))) == ""
    assert detect(bytes(range(256)) * 100) == ""
    assert DtmfDetector().feed(b"") == []
    assert DtmfDetector().feed(b"\x01") == []


def espeak(text: str, voice: str, speed: int, pitch: int) -> bytes:
    """espeak-ng at a given speed and pitch, as 8 kHz S16LE (tts.say has neither knob)."""
    speak = subprocess.run(
        ["espeak-ng", "--stdout", "-v", voice, "-s", str(speed), "-p", str(pitch), text],
        capture_output=True,
        check=True,
        timeout=60,
    )
    sox = ["sox", "-V1", "-t", "wav", "-", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16"]
    sox += ["-c", "1", "-L", "-"]
    pcm = subprocess.run(sox, input=speak.stdout, capture_output=True, check=True, timeout=60)
    return pcm.stdout[: len(pcm.stdout) & ~1]


def test_six_minutes_of_speech_in_13_languages_give_no_false_digit() -> None:
    # Each text twice, each time with its own voice variant, speed and pitch; Spanish read
    # slowly by a low female voice ("es+Andrea", 130 wpm, pitch 20) gave eight false "#".
    pcm = bytearray()
    for i, (lang, text) in enumerate(TALKOFF_TEXT.items()):
        for j in range(2):
            k = i * 2 + j
            variant = VARIANTS[k % len(VARIANTS)]
            speed, pitch = SPEEDS[(k // 2) % len(SPEEDS)], PITCHES[(k * 3 + j) % len(PITCHES)]
            pcm += espeak(text, lang + variant, speed, pitch)
    assert len(pcm) > 5 * 60 * 16000
    assert detect(bytes(pcm)) == ""


def music(seconds: float, rng: np.random.Generator) -> bytes:
    """Chords, melodies and glissandi of harmonic-rich notes (A4 = 440 Hz), -20 to -6 dBFS."""
    rate = tones.RATE
    parts: list[np.ndarray] = []

    def note(hz: float, n: int) -> np.ndarray:
        t = np.arange(n) / rate
        f = hz * (1 + rng.uniform(0, 0.008) * np.sin(2 * np.pi * rng.uniform(4, 7) * t))
        phase = 2 * np.pi * np.cumsum(f) / rate
        harmonics = range(1, int(rng.integers(2, 8)) + 1)
        slope = rng.uniform(0.7, 1.5)
        sig = sum(np.sin(k * phase) / k**slope for k in harmonics if hz * k < rate / 2 - 200)
        attack = np.minimum(1.0, np.arange(n) / (rng.uniform(0.005, 0.08) * rate))
        return np.asarray(sig) * attack * np.exp(-t / rng.uniform(0.2, 2.0))

    while sum(map(len, parts)) < seconds * rate:
        n = int(rng.uniform(0.15, 1.5) * rate)
        kind = rng.integers(3)
        if kind == 0:  # a chord of two to four notes
            root = int(rng.integers(-33, 10))
            steps = rng.choice([0, 3, 4, 7, 10, 11, 12, 16], size=int(rng.integers(2, 5)))
            sig = sum(note(440 * 2 ** ((root + s) / 12), n) for s in steps)
        elif kind == 1:  # a melody note over its bass
            hz = 440 * 2 ** (int(rng.integers(-12, 22)) / 12)
            sig = note(hz, n) + 0.6 * note(hz / 2 ** int(rng.integers(1, 3)), n)
        else:  # a glissando with harmonics
            f0, f1 = 440 * 2 ** (rng.uniform(-24, 18, size=2) / 12)
            phase = 2 * np.pi * np.cumsum(f0 * (f1 / f0) ** (np.arange(n) / n)) / rate
            sig = sum(np.sin(k * phase) / k for k in range(1, int(rng.integers(2, 6)) + 1))
        sig = np.asarray(sig, dtype=np.float64)
        level = tones.FULL_SCALE * 10 ** (rng.uniform(-20, -6) / 20)
        parts += [
            sig / (np.abs(sig).max() or 1.0) * level,
            np.zeros(int(rng.uniform(0, 0.1) * rate)),
        ]
    return tones.to_pcm(np.concatenate(parts))


def test_three_minutes_of_music_give_no_false_digit() -> None:
    # A note and its octave harmonic can sit within 2.5 % of a digit's pair (697 and 1336 Hz
    # against 682 and 1364 Hz); chords of notes on DTMF frequencies carry their harmonics.
    assert detect(music(180, np.random.default_rng(17))) == ""


def test_digits_in_speech_are_found() -> None:
    speech = tts.say("Please enter your account number after the tone.")
    pcm = speech[:16000] + dial("42") + speech[16000:]
    assert detect(pcm) == "42"


def test_merger_counts_each_key_once() -> None:
    m = DigitMerger(window=0.1)
    assert m.add("5", "inband", at=10.00)
    assert not m.add("5", "modem", at=10.05)  # the same press, reported by the modem
    assert m.add("5", "inband", at=10.16)  # pressed again
    assert not m.add("5", "modem", at=10.21)
    assert m.add("6", "modem", at=11.0)  # modem first, in-band later
    assert not m.add("6", "inband", at=11.08)
    assert m.add("7", "modem", at=12.0)
    assert m.add("7", "inband", at=12.5)  # too far apart: two presses
    assert m.add("8", "inband", at=13.0)
    assert m.add("8", "inband", at=13.05)  # one source repeating itself is never merged
    with pytest.raises(ValueError, match="unknown DTMF source"):
        m.add("1", "radio", at=14.0)


def test_merger_defaults_to_now() -> None:
    m = DigitMerger()
    assert m.add("9", "inband")
    assert not m.add("9", "modem")
