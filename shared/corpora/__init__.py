"""Corpus loaders (real layouts, .wav or .flac), typed items and manifests, label taxonomy."""
from shared.corpora.items import CorpusItem, Manifest, Unparsed
from shared.corpora.labels import CANONICAL_LABELS, NAMED_LABEL_MAPS, LabelMap, get_label_map
from shared.corpora.registry import available_corpora, load_corpora, load_corpus

__all__ = [
    "CANONICAL_LABELS",
    "NAMED_LABEL_MAPS",
    "CorpusItem",
    "LabelMap",
    "Manifest",
    "Unparsed",
    "available_corpora",
    "get_label_map",
    "load_corpora",
    "load_corpus",
]
