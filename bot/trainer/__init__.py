"""The trainers' tooling: validating, testing, training and exporting Rasa NLU data.

Kept outside `nlu/` on purpose: `nlu/` holds the custom Rasa components and is part of every
model's fingerprint, so tooling changes there would make every checkout retrain.
"""

from __future__ import annotations

__all__: list[str] = []
