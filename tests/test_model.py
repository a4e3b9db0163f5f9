import json
import os

import numpy as np
import pytest

from core.model.config import ModelConfig
from core.model.network import CompiledModel, build_cae, decode, encode


def small_config(**kw):
    base = dict(image_size=16, channels=1, z_dim=8, encoder_filters=(4, 4, 8, 8), decoder_filters=(8, 8, 4, 4))
    base.update(kw)
    return ModelConfig(**base)


def test_architecture_matches_seed_layout():
    enc, dec, ae = build_cae(ModelConfig(image_size=32, channels=3, z_dim=256))
    assert enc.name == "encoder" and dec.name == "decoder"
    convs = [l for l in enc.layers if l.__class__.__name__ == "Conv2D"]
    assert [l.filters for l in convs] == [64, 64, 128, 128]
    assert all(l.kernel_size == (3, 3) for l in convs)
    deconvs = [l for l in dec.layers if l.__class__.__name__ == "Conv2DTranspose"]
    assert [l.filters for l in deconvs] == [128, 128, 64, 64]
    assert enc.output_shape == (None, 256)
    assert dec.output_shape == (None, 32, 32, 3)
    assert any(l.__class__.__name__ == "LeakyReLU" for l in enc.layers)
    assert ae.output_shape == (None, 32, 32, 3)


def test_batch_norm_and_activation_options():
    enc, dec, _ = build_cae(small_config(batch_norm=True, activation="elu"))
    names = [l.__class__.__name__ for l in enc.layers]
    assert names.count("BatchNormalization") == 4
    assert "LeakyReLU" not in names


def test_config_json_round_trip():
    cfg = small_config(batch_norm=True)
    again = ModelConfig.from_json(cfg.to_json())
    assert again == cfg
    assert json.loads(cfg.to_json())["encoder_filters"] == [4, 4, 8, 8]


@pytest.mark.parametrize("field,value", [("image_size", 40), ("image_size", 256), ("channels", 2),
                                         ("z_dim", 0), ("activation", "nope"), ("encoder_filters", (1, 2, 3))])
def test_bad_config_names_value(field, value):
    cfg = small_config(**{field: value})
    with pytest.raises(ValueError, match=str(value).replace("(", r"\(").replace(")", r"\)")):
        cfg.validate()


def test_compiled_call_matches_keras_predict_for_awkward_n():
    enc, dec, _ = build_cae(small_config())
    rng = np.random.default_rng(0)
    z = rng.normal(size=(21, 8)).astype(np.float32)
    fast = CompiledModel(dec, batch_size=16)(z)
    ref = dec.predict(z, verbose=0)
    assert fast.shape == (21, 16, 16, 1)
    np.testing.assert_allclose(fast, ref, atol=1e-5)
    assert decode(dec, z[:1]).shape == (1, 16, 16, 1)
    # one vector (the Decode page's slider) and other chunkings give the same images
    np.testing.assert_allclose(decode(CompiledModel(dec, batch_size=16), z[:1]), ref[:1], atol=1e-5)
    np.testing.assert_allclose(CompiledModel(dec, batch_size=4)(z), ref, atol=1e-5)
    imgs = rng.uniform(size=(5, 16, 16, 1)).astype(np.float32)
    np.testing.assert_allclose(encode(enc, imgs), enc.predict(imgs, verbose=0), atol=1e-5)


def test_decode_refuses_wrong_width_and_nan():
    _, dec, _ = build_cae(small_config())
    with pytest.raises(ValueError, match="z_dim is 8"):
        decode(dec, np.zeros((2, 9)))
    with pytest.raises(ValueError, match="NaN"):
        decode(dec, np.full((2, 8), np.nan))


def test_compiled_model_sub_batches_give_every_row_the_same_image_in_any_call():
    # Issue 14: one traced call runs 4 independent sub-batches side by side, and fewer rows than
    # the batch run through the sub-batch graph alone; a vector's image must not depend on which
    # path, position or call decoded it.
    from core.model.network import _parts

    assert [_parts(b) for b in (16, 64, 6, 7, 1)] == [4, 4, 3, 1, 1]
    _, dec, _ = build_cae(small_config())
    fast = CompiledModel(dec, batch_size=16)
    assert (fast.parts, fast.part) == (4, 4)
    z = np.random.default_rng(3).normal(size=(21, 8)).astype(np.float32)
    whole = fast(z)
    perm = np.random.default_rng(4).permutation(21)
    np.testing.assert_array_equal(fast(z[perm]), whole[perm])
    for i in (0, 5, 20):
        np.testing.assert_array_equal(fast(z[i:i + 1]), whole[i:i + 1])
    np.testing.assert_allclose(whole, dec.predict(z, verbose=0), atol=1e-5)
    # An uneven batch falls back to fewer parts, same images.
    np.testing.assert_allclose(CompiledModel(dec, batch_size=7)(z), whole, atol=1e-5)
