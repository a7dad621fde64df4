"""Task modules; importing this package registers every task with the app."""
from services.jobs.tasks import analyze, fit, segment, train, webhook  # noqa: F401
