"""The HTTP API (aiohttp): handlers, validation, auth, problem+json errors, group commit."""

from api.app import make_app
from api.committer import GroupCommitter, Outbox
from api.otp import OtpServices, add_otp_routes
from api.problems import PROBLEM_JSON, problem_response, response_for
from api.server import run_api
from api.services import SERVICES, ApiServices

__all__ = [
    "PROBLEM_JSON",
    "SERVICES",
    "ApiServices",
    "GroupCommitter",
    "OtpServices",
    "Outbox",
    "add_otp_routes",
    "make_app",
    "problem_response",
    "response_for",
    "run_api",
]
