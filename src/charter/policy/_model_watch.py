"""Drift watches: a charter's thresholds for the models its agents call.

.. code-block:: yaml

    models:
      - model: fraud_risk
        psi_max: 0.2          # population stability index, per feature and prediction
        ks_p_min: 0.01        # two-sample Kolmogorov-Smirnov p-value
        window: 200           # the newest predictions compared with the reference
        min_samples: 50       # fewer predictions than this: no verdict yet
        on_drift: [alert, supervise]

``on_drift``: ``alert`` queues a notification in the journal's outbox, ``supervise`` puts
every agent that used the model under supervision (their writes ask an approver),
``block`` revokes the tool serving the model. See :func:`charter.models.check_drift`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DriftAction = Literal["alert", "supervise", "block"]


class ModelWatch(BaseModel):
    """How much drift of one registered model a charter tolerates, and what breaches do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    """The registered model's name."""
    psi_max: float = Field(default=0.2, gt=0)
    """A feature (or the prediction) whose PSI exceeds this has drifted."""
    ks_p_min: float = Field(default=0.01, gt=0, lt=1)
    """A feature (or the prediction) whose KS p-value is below this has drifted."""
    window: int = Field(default=200, ge=2)
    """How many of the newest journaled predictions are compared with the reference."""
    min_samples: int = Field(default=50, ge=2)
    """Below this many predictions in the window, drift is not judged."""
    on_drift: list[DriftAction] = Field(default_factory=lambda: ["alert"])
    """What a breach does (besides journaling ``model.drift``)."""

    @model_validator(mode="after")
    def _window_holds_samples(self) -> ModelWatch:
        if self.min_samples > self.window:
            raise ValueError(
                f"min_samples ({self.min_samples}) exceeds window ({self.window}): "
                "drift could never be judged"
            )
        return self
