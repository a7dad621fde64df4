"""Who spoke when in a single-channel call: GE2E window embeddings -> clustering -> turns with overlap.

``pipeline.diarize`` is the entry point; each step lives in its own module (windows, clustering,
speaker_count, overlap, resegment, roles) so it can be tested and swapped on its own.
"""
