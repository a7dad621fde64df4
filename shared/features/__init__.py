"""Feature extraction: one log-mel front end, images, augmentation, BOVW, functionals, cache."""
