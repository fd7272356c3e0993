"""Worker integration fixtures: the carrier simulator on a thread (shared with carriers/)."""

from tests.integration.carriers.conftest import start_sim

__all__ = ["start_sim"]
