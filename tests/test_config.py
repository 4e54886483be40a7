import json
from dataclasses import dataclass, field

import pytest

from engine.config import ConfigBase
from engine.data.synth import SceneConfig
from engine.errors import InputError
from engine.models.mambavision import MAMBAVISION_VARIANTS, MambaVisionConfig
from engine.models.saross_net import SarossNetConfig
from engine.models.unet import UNetConfig
from engine.train.segmenter import SegmenterConfig


@dataclass(frozen=True)
class _Inner(ConfigBase):
    pair: tuple[float, float] = (1.0, 2.0)


@dataclass(frozen=True)
class _Outer(ConfigBase):
    sizes: tuple[int, ...] = (1, 2)
    window: tuple[int, int] | None = None
    nested: tuple[tuple[int, int], ...] = ()
    options: dict[str, int] = field(default_factory=dict)
    inner: _Inner = field(default_factory=_Inner)


def _through_json(config: ConfigBase) -> dict:
    return json.loads(json.dumps(config.to_dict()))


def test_round_trip_restores_tuples_and_nested_configs():
    config = _Outer(
        sizes=(3, 4, 5), window=(7, 8), nested=((1, 2), (3, 4)), options={"a": 1}, inner=_Inner(pair=(0.5, 0.25))
    )
    data = _through_json(config)
    assert data["sizes"] == [3, 4, 5] and data["inner"] == {"pair": [0.5, 0.25]}
    back = _Outer.from_dict(data)
    assert back == config
    assert isinstance(back.sizes, tuple) and isinstance(back.window, tuple) and isinstance(back.nested[0], tuple)
    assert _Outer.from_dict({}) == _Outer()  # missing keys keep their defaults


def test_unknown_key_is_refused_in_one_line_naming_key_and_config():
    with pytest.raises(ValueError) as raised:
        _Outer.from_dict({"sizes": [1], "colour": 2}, source="card.json")
    message = str(raised.value)
    assert message.startswith("card.json: unknown key(s) colour for _Outer") and "\n" not in message
    assert message.endswith("valid keys: sizes, window, nested, options, inner")
    with pytest.raises(ValueError, match="unknown key\\(s\\) size for _Outer; did you mean sizes\\?"):
        _Outer.from_dict({"size": [1]})
    with pytest.raises(ValueError, match="window must be a list of 2 values"):
        _Outer.from_dict({"window": [1, 2, 3]})


def test_a_config_may_raise_its_own_error_class():
    with pytest.raises(InputError, match="unknown key\\(s\\) colour for SceneConfig"):
        SceneConfig.from_dict({"colour": 1})


@pytest.mark.parametrize(
    "config",
    [
        MAMBAVISION_VARIANTS["B"],
        MambaVisionConfig(dim=8, in_dim=4, depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1), window_size=(8, 8, 14, 7)),
        UNetConfig(channel_mults=(1, 2), attention_levels=()),
        SarossNetConfig(variant="XS", input_features=("db", "lcn:31")),
        SegmenterConfig(crop_px=128, model_overrides={"input_features": ["db"]}),
        SceneConfig(incidence_deg=(31.0, 33.0)),
    ],
)
def test_every_model_and_training_config_survives_json(config):
    assert type(config).from_dict(_through_json(config)) == config
