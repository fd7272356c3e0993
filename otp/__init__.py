"""OTP: codes, policy, templates, pumping guard (pure)."""
