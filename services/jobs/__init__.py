"""Celery app and tasks for long jobs (training, evaluation, fitting, batch analysis)."""
