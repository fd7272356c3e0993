"""SMPP carriers: our windowed session over smpplib's codec, the status table, parts, receipts."""

from carriers.health import (
    SLOW_SUBMIT,
    Circuit,
    CircuitPolicy,
    CircuitState,
    HealthCounts,
    counts_as_failure,
    score,
)
from carriers.health_store import (
    HealthPolicy,
    HealthStore,
    HealthView,
    MemoryHealthStore,
    RedisHealthStore,
)
from carriers.memory import MemorySession
from carriers.parts import build_parts, concat_udh, reference_for
from carriers.pool import (
    BindLeaseStore,
    CarrierLink,
    CarrierPool,
    CarrierSession,
    RebindBackoff,
    Reconciled,
)
from carriers.receipts import (
    Receipt,
    message_id_variants,
    normalize_message_id,
    parse_receipt,
    render_receipt_text,
    same_message_id,
)
from carriers.segment_learning import (
    LEARN_AFTER,
    MemorySegmentLearner,
    RedisSegmentLearner,
    SegmentLearner,
    SegmentLearning,
)
from carriers.slot_wait import SlotMissed, wait_until
from carriers.smpp.session import Ack, SmppSession
from carriers.smpp.types import Endpoint, Mo, SubmitPart
from carriers.status import STATUS_TABLE, Outcome, error_for, outcome_for, status_name

__all__ = [
    "LEARN_AFTER",
    "SLOW_SUBMIT",
    "STATUS_TABLE",
    "Ack",
    "BindLeaseStore",
    "CarrierLink",
    "CarrierPool",
    "CarrierSession",
    "Circuit",
    "CircuitPolicy",
    "CircuitState",
    "Endpoint",
    "HealthCounts",
    "HealthPolicy",
    "HealthStore",
    "HealthView",
    "MemoryHealthStore",
    "MemorySegmentLearner",
    "MemorySession",
    "Mo",
    "Outcome",
    "RebindBackoff",
    "Receipt",
    "Reconciled",
    "RedisHealthStore",
    "RedisSegmentLearner",
    "SegmentLearner",
    "SegmentLearning",
    "SlotMissed",
    "SmppSession",
    "SubmitPart",
    "build_parts",
    "concat_udh",
    "counts_as_failure",
    "error_for",
    "message_id_variants",
    "normalize_message_id",
    "outcome_for",
    "parse_receipt",
    "reference_for",
    "render_receipt_text",
    "same_message_id",
    "score",
    "status_name",
    "wait_until",
]
