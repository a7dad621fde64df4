"""Evaluation: speaker-independent protocols, metrics, normalisation, reports, plots, baselines.

Import the submodules directly (``shared.evaluation.protocols`` ...): reports and plots pull in
matplotlib, which services that only need metrics should not pay for.
"""
