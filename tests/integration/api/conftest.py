"""API integration fixtures: the OTP harness (API with the OTP routes, real Redis windows)."""

from tests.integration.otp.conftest import engine, harness

__all__ = ["engine", "harness"]
