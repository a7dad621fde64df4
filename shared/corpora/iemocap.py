"""IEMOCAP, English, five sessions of dyadic conversations (one male, one female speaker each).

Layout: ``Session1/sentences/wav/<dialog>/<utterance>.wav`` and
``Session1/dialog/EmoEvaluation/<dialog>.txt``, whose summary lines read
``[start - end]<TAB>utterance<TAB>emotion<TAB>[valence, activation, dominance]``.
The speaker is the session plus the gender letter of the utterance id's last field
(``Ses01F_impro01_M003`` -> ``Ses01M``; the dialog's own letter names the marker wearer, not the
speaker). ``exc`` (excited) is an explicit choice: ``exc_as`` keeps it as ``excited`` (default), merges
it into ``happy`` (the common 4-class practice) or drops it. ``xxx`` (no agreement) and ``oth`` get
no canonical label (``None``): label maps drop and count them.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from shared.corpora.base import Drop, Unparseable, audio_files, choose, collect, require_dir, within_root
from shared.corpora.items import CorpusItem, Manifest
from shared.errors import SpecError

CORPUS = "iemocap"
LANGUAGE = "en"
EMOTIONS: dict[str, str | None] = {
    "neu": "neutral", "hap": "happy", "sad": "sad", "ang": "angry", "exc": "excited",
    "fru": "frustration", "sur": "surprise", "fea": "fear", "dis": "disgust",
    "oth": None, "xxx": None,
}
EXC_OPTIONS = ("excited", "happy", "drop")
KIND_OPTIONS = ("all", "improvised", "scripted")
_LINE = re.compile(
    r"^\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]\s+(Ses\d{2}[FM]_\S+)\s+(\w+)\s+\[([^\]]*)\]"
)
_SESSION = re.compile(r"^Session(\d)\Z", re.IGNORECASE)
_UTT = re.compile(r"^(Ses\d{2})[FM]_(.+)_([FM])\d+\Z")


@dataclass(frozen=True)
class Evaluation:
    start_s: float
    end_s: float
    emotion: str
    vad: tuple[float, ...]


def read_evaluations(txt: Path) -> dict[str, Evaluation]:
    """Utterance id -> summary annotation, from one EmoEvaluation file."""
    out: dict[str, Evaluation] = {}
    for line in txt.read_text(encoding="utf-8", errors="replace").splitlines():
        m = _LINE.match(line.strip())
        if not m:
            continue
        start, end, utt, emo, vad = m.groups()
        try:
            values = tuple(float(v) for v in vad.split(","))
        except ValueError:
            values = ()
        out[utt] = Evaluation(float(start), float(end), emo, values)
    return out


def load(
    root: str | Path,
    exc_as: str = "excited",
    sessions: list[int] | tuple[int, ...] | None = None,
    kind: str = "all",
) -> Manifest:
    root = require_dir(root, CORPUS)
    choose("exc_as", exc_as, EXC_OPTIONS)
    choose("kind", kind, KIND_OPTIONS)
    session_dirs = {
        int(m.group(1)): d for d in sorted(root.iterdir()) if d.is_dir() and (m := _SESSION.match(d.name))
    }
    if sessions is not None:
        missing = sorted(set(sessions) - set(session_dirs))
        if missing:
            raise SpecError(f"{CORPUS}: sessions {missing} not found under {root}")
        session_dirs = {n: d for n, d in session_dirs.items() if n in set(sessions)}

    evaluations: dict[str, Evaluation] = {}
    files: list[Path] = []
    hidden = 0
    for session_dir in session_dirs.values():
        for txt in sorted((session_dir / "dialog" / "EmoEvaluation").glob("*.txt")):
            if not txt.name.startswith("."):
                evaluations.update(read_evaluations(within_root(txt, root, CORPUS)))
        wav_root = session_dir / "sentences" / "wav"
        if wav_root.is_dir():
            found, h = audio_files(wav_root)
            files += found
            hidden += h

    def parse(path: Path) -> CorpusItem | Drop:
        ev = evaluations.get(path.stem)
        if ev is None:
            raise Unparseable("no EmoEvaluation entry for this utterance")
        m = _UTT.match(path.stem)
        if not m:
            raise Unparseable("utterance id does not end in _F<NNN> or _M<NNN>")
        session, dialog_tail, gender = m.groups()
        improvised = dialog_tail.startswith("impro")
        if kind != "all" and improvised != (kind == "improvised"):
            return Drop(f"{'improvised' if improvised else 'scripted'} (kind={kind!r})")
        if ev.emotion not in EMOTIONS:
            raise Unparseable(f"unknown emotion code; known {sorted(EMOTIONS)}")
        label = EMOTIONS[ev.emotion]
        if ev.emotion == "exc":
            if exc_as == "drop":
                return Drop("exc (exc_as='drop')")
            label = exc_as
        vad = dict(zip(("valence", "activation", "dominance"), ev.vad, strict=False))
        return CorpusItem(
            path=path,
            corpus=CORPUS,
            language=LANGUAGE,
            speaker=f"{session}{gender}",
            gender="female" if gender == "F" else "male",
            label_original=ev.emotion,
            label=label,
            duration_s=round(ev.end_s - ev.start_s, 4),
            extra={
                "dialog": path.parent.name,
                "improvised": improvised,
                "dialog_start_s": ev.start_s,
                "dialog_end_s": ev.end_s,
                **vad,
            },
        )

    manifest = collect(CORPUS, files, parse, hidden)
    have_audio = {p.stem for p in files}
    missing_audio = sum(1 for utt in evaluations if utt not in have_audio)
    if missing_audio:
        dropped = Counter(manifest.dropped)
        dropped["evaluated utterance without audio file"] += missing_audio
        manifest = Manifest(items=manifest.items, unparsed=manifest.unparsed, dropped=dict(dropped))
    return manifest
