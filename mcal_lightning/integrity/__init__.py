"""Whether an evaluation can be trusted: the leakage audit, the replay of the paper's protocol."""

from mcal_lightning.exports import lazy_exports

# the paper's leaky protocol module is left out on purpose: only the replay may build it
__getattr__, __all__ = lazy_exports(__name__, {
    "audit": ("AUDIT_MODES", "AuditReport", "LeakageFound", "audit_splits", "enforce"),
    "audit_report": ("write_report",),
    "audit_gate": ("audit_datamodule", "log_audit"),
    "replay": ("Replay", "replay_paper"),
    "replay_report": ("PRINTED", "comparison_table"),
    "paper_reference": ("TABLE9", "reference_scores"),
    "memoriser": ("memoriser_scores",),
})
