"""SMPP 3.4 client side: the codec (smpplib) and our own windowed, thread-based session."""
