"""Task modules; importing this package registers every task with the app."""
from services.jobs.tasks import fit, segment, train  # noqa: F401
