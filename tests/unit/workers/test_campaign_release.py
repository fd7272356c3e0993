"""What the release slice counts as the carriers' marketing throughput."""

from __future__ import annotations

from pathlib import Path

from campaigns import CarrierCapacity
from routing import load_routes
from workers.campaign_release import capacities_of

ROUTES = """
[carriers.alpha]
host = "127.0.0.1"
port = 1
system_id = "alpha"
password = "pw"
mps = 100

[carriers.beta]
host = "127.0.0.1"
port = 2
system_id = "beta"
password = "pw"
mps = 50

[carriers.otp_only]
host = "127.0.0.1"
port = 3
system_id = "otp_only"
password = "pw"
mps = 1000

[carriers.unrouted]
host = "127.0.0.1"
port = 4
system_id = "unrouted"
password = "pw"
mps = 500

[prices.alpha]
currency = "EUR"
"+44" = 0.01

[prices.beta]
currency = "EUR"
"+44" = 0.02

[prices.otp_only]
currency = "EUR"
"+44" = 0.05

[prices.unrouted]
currency = "EUR"
"+44" = 0.05

[[routes]]
name = "otp"
match = { class = "otp" }
strategy = "priority"
carriers = ["otp_only", "alpha"]

[[routes]]
name = "uk marketing"
match = { prefix = "+44", class = "marketing" }
strategy = "least_cost"
carriers = ["beta"]

[[routes]]
name = "default"
strategy = "least_cost"
carriers = ["alpha"]
"""


def test_only_carriers_a_marketing_message_can_reach_count_toward_the_slice(
    tmp_path: Path,
) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(ROUTES)
    assert capacities_of(load_routes(path)) == {
        "alpha": CarrierCapacity(100),  # the default route (any class)
        "beta": CarrierCapacity(50),  # a marketing route
    }  # not otp_only (OTP routes only) nor unrouted (no route)
