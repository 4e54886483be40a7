import json

import pytest

from engine.data.synth import SceneConfig
from engine.errors import InputError


def test_round_trip_through_json():
    config = SceneConfig(width_px=300, spills=(2, 5), incidence_deg=(31.0, 33.0), spill_kind_weights={"leak": 1.0})
    back = SceneConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert back == config


def test_partial_dict_keeps_defaults():
    config = SceneConfig.from_dict({"damping_db": [4, 6]})
    assert config.damping_db == (4, 6)
    assert config.wind_speed_ms == SceneConfig().wind_speed_ms


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"colour": 1}, "unknown key(s) colour for SceneConfig"),
        ({"damping_db": [5, 2]}, "damping_db must be a (low, high) pair"),
        ({"damping_db": 5}, "damping_db must be a list of 2 values"),
        ({"width_px": 8}, "width_px must be an integer >= 32"),
        ({"width_px": 10000, "height_px": 10000}, "Mpx limit"),
        ({"spills": [1.5, 2]}, "spills must be a (min, max) pair of counts"),
        ({"wind_speed_ms": [1, 20]}, "lies outside wind_limits_ms"),
        ({"orbit_direction": "sideways"}, "orbit_direction must be one of"),
        ({"spill_kind_weights": {"tanker": 1}}, "spill_kind_weights must map"),
        ({"land_probability": 2}, "land_probability must be a number in [0, 1]"),
        # --set dn_quantisation=False gave the text "False" (not JSON), which counted as on
        ({"dn_quantisation": "False"}, "dn_quantisation must be true or false"),
        ({"label_wake_as_lookalike": "no"}, "label_wake_as_lookalike must be true or false"),
        ({"origin_easting_m": "abc"}, "origin_easting_m must be a number in [0, 1e+06]"),  # failed after simulating
    ],
)
def test_bad_values_name_the_field(values, fragment):
    with pytest.raises(InputError) as raised:
        SceneConfig.from_dict(values, source="test.json")
    message = str(raised.value)
    assert message.startswith("test.json: ")
    assert fragment in message
    assert "\n" not in message


def test_replace_validates():
    with pytest.raises(InputError, match="speckle_enl"):
        SceneConfig().replace(speckle_enl=0.1)
    assert SceneConfig().replace(speckle_enl=0).speckle_enl == 0


def test_every_field_refuses_a_value_of_the_wrong_kind():
    """Each field is checked, by FIELD_LIMITS or in validate: three were used as given, text included."""
    import dataclasses

    for field in dataclasses.fields(SceneConfig):
        with pytest.raises(InputError, match=f"^test.json: {field.name} "):
            SceneConfig.from_dict({field.name: "x"}, source="test.json")
