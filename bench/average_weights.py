"""Average the weights of models of one build (a "model soup"): a negative result of issue 13, kept to repeat.

Models fine-tuned from one parent often average into a model more robust than either (Wortsman et al., "Model
soups", 2022). Here it was not: stage 3 averaged with the control run (both 6,000 steps from stage 2) or with
stage 2 scored a lower robustness mean than stage 3 alone (docs/model.md, "Averaging weights").

Usage::

    python bench/average_weights.py build/soup/s3c resources/models/default.json build/control.json
    python bench/robustness.py --model default=resources/models/default.json --model s3c=build/soup/s3c.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.modelcard import load_model, save_model_card  # noqa: E402


def average_state(models: list[torch.nn.Module]) -> dict[str, torch.Tensor]:
    """The mean of the models' float tensors (running statistics included); other tensors from the first."""
    states = [model.state_dict() for model in models]
    return {
        key: torch.stack([state[key].double() for state in states]).mean(0).to(tensor.dtype)
        if tensor.is_floating_point()
        else tensor
        for key, tensor in states[0].items()
    }


def main(argv: list[str] | None = None) -> int:
    """Load the cards, average them and save NAME.json + NAME.safetensors (refusing to replace either)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="the new model, without suffix (NAME.json and NAME.safetensors are written)")
    parser.add_argument("cards", nargs="+", help="two or more model cards of the same build")
    args = parser.parse_args(argv)
    loaded = [load_model(card) for card in args.cards]
    if len(loaded) < 2 or any(card.build != loaded[0][1].build for _, card in loaded):
        parser.error("give two or more cards of the same build")
    model, card = loaded[0]
    model.load_state_dict(average_state([m for m, _ in loaded]))
    card = dataclasses.replace(card, name=Path(args.out).name, description="weights averaged: " + ", ".join(args.cards))
    print(save_model_card(args.out, model, card, overwrite=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
