"""Every trainable architecture of the four papers; see ``registry`` for names and specs."""
