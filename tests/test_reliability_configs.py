"""Issue 17 item 4: configs with the wrong types are refused up front.

Strict types (bool is not int, float is not int, null is not a number), a
one-line message naming the field, before any folder or data is touched.
"""

import json

import pytest

from core.cli import main
from core.model.config import ModelConfig, TrainConfig

GOOD_MODEL = {"image_size": 16, "channels": 3, "z_dim": 8, "encoder_filters": [4, 4, 8, 8],
              "decoder_filters": [8, 8, 4, 4]}

MODEL_CASES = [
    ({"channels": True}, "channels must be an integer, got True"),
    ({"channels": 3.0}, "channels must be an integer, got 3.0"),
    ({"batch_norm": "yes"}, "batch_norm must be true or false, got 'yes'"),
    ({"batch_norm": 1}, "batch_norm must be true or false, got 1"),
    ({"encoder_filters": [1.9, 2.9, 3.9, 4.9]}, r"encoder_filters must be 4 integers in 1..1024, got \(1.9, 2.9"),
    ({"encoder_filters": [True, 4, 8, 8]}, r"encoder_filters must be 4 integers in 1..1024, got \(True"),
    ({"decoder_filters": 5}, "decoder_filters must be 4 integers in 1..1024, got 5"),
    ({"decoder_filters": "8888"}, "decoder_filters must be 4 integers in 1..1024, got '8888'"),
    ({"dropout": None}, "dropout must be a number, got None"),
    ({"dropout": "0.1"}, "dropout must be a number, got '0.1'"),
    ({"z_dim": 8.0}, "z_dim must be an integer, got 8.0"),
    ({"z_dim": None}, "z_dim must be an integer, got None"),
    ({"image_size": False}, "image_size must be an integer, got False"),
    ({"kernel_size": 3.5}, "kernel_size must be an integer, got 3.5"),
    ({"activation": ["relu"]}, r"activation must be one of .*, got \['relu'\]"),
]

TRAIN_CASES = [
    ({"model": None}, "model must be a JSON object of model fields, got None"),
    ({"model": [1, 2]}, r"model must be a JSON object of model fields, got \[1, 2\]"),
    ({"epochs": 2.0}, "epochs must be an integer, got 2.0"),
    ({"epochs": True}, "epochs must be an integer, got True"),
    ({"limit": 300.5}, "limit must be an integer, got 300.5"),
    ({"batch_size": "16"}, "batch_size must be an integer, got '16'"),
    ({"seed": None}, "seed must be an integer, got None"),
    ({"data_seed": -1}, "data_seed must be >= 0, got -1"),
    ({"learning_rate": None}, "learning_rate must be a number, got None"),
    ({"val_fraction": True}, "val_fraction must be a number, got True"),
    ({"strategy": ["default"]}, r"strategy must be one of .*, got \['default'\]"),
    ({"dataset": 5}, "dataset must be a name or a path, got 5"),
]


def _config(train=None, model=None):
    d = {"dataset": "synthfaces", "limit": 300, "epochs": 1, "batch_size": 16, "model": dict(GOOD_MODEL)}
    d["model"].update(model or {})
    d.update(train or {})
    return d


def test_good_config_passes_and_round_trips():
    cfg = TrainConfig.from_dict(_config())
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    assert cfg.model.encoder_filters == (4, 4, 8, 8)


@pytest.mark.parametrize("model, pattern", MODEL_CASES)
def test_wrongly_typed_model_field_is_refused_naming_it(model, pattern):
    with pytest.raises(ValueError, match=pattern):
        TrainConfig.from_dict(_config(model=model))
    with pytest.raises(ValueError, match=pattern):
        ModelConfig(**dict(GOOD_MODEL, **model)).validate()


@pytest.mark.parametrize("train, pattern", TRAIN_CASES)
def test_wrongly_typed_train_field_is_refused_naming_it(train, pattern):
    with pytest.raises(ValueError, match=pattern):
        TrainConfig.from_dict(_config(train=train))


@pytest.mark.parametrize("text, pattern", [
    ("[1, 2]", "train config must be a JSON object, got \\[1, 2\\]"),
    ('{"epochs": NaN}', "NaN is not a number"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_config_that_is_not_an_object_is_refused(text, pattern):
    with pytest.raises(ValueError, match=pattern):
        TrainConfig.from_json(text)


@pytest.mark.parametrize("case", [MODEL_CASES[0], MODEL_CASES[2], MODEL_CASES[4], MODEL_CASES[6], MODEL_CASES[8],
                                  TRAIN_CASES[0]])
def test_cli_train_with_a_bad_config_file_prints_one_line_and_touches_nothing(artifacts, tmp_path, capsys, case):
    fields, pattern = case
    cfg = _config(train=fields) if "model" in fields else _config(model=fields)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg))
    assert main(["train", "--config", str(path), "--out", "fresh"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    import re

    assert re.search(pattern, err), err
    assert list(artifacts.iterdir()) == []  # no run folder, no data cache
