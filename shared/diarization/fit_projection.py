"""Fit the bundled diarization projection: ``python -m shared.diarization.fit_projection [--corpora DIR] [--out DIR]``.

Speakers: RAVDESS actors 11-24 and all 38 URDU speakers (the diarization benchmark uses RAVDESS actors
01-10, SAVEE, TESS and TurEV-DB, so none of its speakers is seen here). From every file, up to two
random 1.5 s crops (the diarization window), each clean and through ``shared.features.augment.telephone``,
levelled like the diarization windows, embedded with GE2E; LDA to 16 dims with shrinkage 0.1
(``shared.diarization.projection``). Deterministic (seed 0).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from shared.diarization.projection import BUNDLED, SpeakerProjection
from shared.diarization.windows import levelled

CROP = 24000  # 1.5 s at 16 kHz
DIMS, SHRINKAGE = 16, 0.1
FIRST_RAVDESS_ACTOR = 11


def training_crops(corpora: Path, seed: int = 0) -> tuple[list[np.ndarray], list[str]]:
    from shared.audio.decode import decode
    from shared.corpora.registry import load_corpus
    from shared.features.augment import telephone

    items = [i for i in load_corpus("ravdess", corpora / "RAVDESS").items if int(i.speaker) >= FIRST_RAVDESS_ACTOR]
    items += list(load_corpus("urdu", corpora / "URDU").items)
    rng = np.random.default_rng(seed)
    clips, speakers = [], []
    for item in items:
        x = decode(item.path).samples[0]
        for _ in range(2 if len(x) > CROP else 1):
            start = int(rng.integers(0, max(1, len(x) - CROP)))
            crop = x[start : start + CROP]
            for version in (crop, telephone(crop, 16000).astype(np.float32)):
                clips.append(levelled(version))
                speakers.append(item.speaker_key)
    return clips, speakers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path, default=Path(os.environ.get("SER_CORPORA", "../shared/corpora")))
    parser.add_argument("--out", type=Path, default=BUNDLED)
    args = parser.parse_args(argv)
    from shared.speaker.encoder import Ge2eEncoder

    encoder = Ge2eEncoder(device="cpu")
    clips, speakers = training_crops(args.corpora)
    embeddings = np.concatenate([encoder.embed_batch(clips[i : i + 256]) for i in range(0, len(clips), 256)])
    projection = SpeakerProjection.fit(
        embeddings, np.asarray(speakers), dims=DIMS, shrinkage=SHRINKAGE, encoder=encoder.name,
        sources={"ravdess": f"actors {FIRST_RAVDESS_ACTOR}-24", "urdu": "all speakers",
                 "crops": "up to 2 random 1.5 s per file, clean + telephone", "seed": 0,
                 "licence": "derived from RAVDESS (CC BY-NC-SA 4.0) and URDU (research use only): non-commercial"})
    projection.save(args.out)
    print(f"{projection.card.samples} embeddings of {projection.card.speakers} speakers -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
