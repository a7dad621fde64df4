"""Declarative experiments: a YAML spec names corpora, labels, protocol, inputs, model and training;
``run_experiment`` turns it into a report (and optionally a registry model) with one command."""
