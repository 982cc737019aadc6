"""ReActNetA(weights=<official PyTorch checkpoint>) reproduces the official PyTorch forward.

Golden outputs (tests/zoo/fixtures/official/reactnet_a_golden.npz) come from the official
``mobilenet/2_step2/reactnet.py`` run by tools/golden/reactnet_a.py with the deterministic
weights of official_state.py (non-trivial BN statistics). Here the same weights are
regenerated in NumPy: block by block they go through the mapping into lq_ext's blocks;
for the whole network they are written as a ``torch.save`` zip file (~117 MB, in
tmp_path) and loaded through ``weights=``. No torch needed.
"""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from official_state import load_golden, official_like_state, relative_error, write_torch_zip

from lq_ext import torch_checkpoint
from lq_ext.data import load_samples
from lq_ext.layers import SpatialFlip
from lq_ext.zoo import BCDNetA, BDNetMobileNet, ReActNetA, official_weights, preprocess_input
from lq_ext.zoo._blocks import REACTNET_A_WIDTHS, reactnet_block

GOLDEN = Path(__file__).parent / "fixtures" / "official" / "reactnet_a_golden.npz"
TINY = Path(__file__).parents[1] / "fixtures" / "torch_checkpoint" / "tiny_train_zip.pth.tar"
RTOL = 1e-5  # max |lq_ext − official| / max |official|, per tensor or per image

#: fixture name → (official feature index, C_in, C_out, stride): the three block types
BLOCKS = {"block1": (1, 32, 64, 1), "block2": (2, 64, 128, 2), "block3": (3, 128, 128, 1)}


@pytest.fixture(scope="module")
def golden():
    return load_golden(GOLDEN)


@pytest.fixture(scope="module")
def state():
    return official_like_state(official_weights.reactnet_a_shapes(REACTNET_A_WIDTHS))


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_block_equals_the_official_block(name, golden, state):
    index, c_in, c_out, stride = BLOCKS[name]
    x = golden[f"{name}_input"]
    inputs = tf.keras.Input(x.shape[1:])
    y = reactnet_block(SpatialFlip()(inputs), c_out, stride, name=name, pad_values=0.0, bn_epsilon=1e-5)
    built = tf.keras.Model(inputs, y)
    taps = [built.get_layer(f"{name}_3x3_bias").output, built.get_layer(f"{name}_pw_bias").output]
    model = tf.keras.Model(inputs, [SpatialFlip()(t) for t in (y, *taps)])
    tf.keras.backend.batch_set_value(
        official_weights.reactnet_a_block_assignments(state, model, index, c_in, c_out, flip=True)
    )
    output, sign_in1, sign_in2 = model(x)
    for ours, theirs in ((sign_in1, "sign_in1"), (sign_in2, "sign_in2")):
        ref = golden[f"{name}_{theirs}"]
        assert relative_error(ours.numpy(), ref) <= RTOL, theirs
        flips = np.sign(ours.numpy()) != np.sign(ref)
        # a flipped binarizer is a tie: its official input is within round-off of 0
        assert np.all(np.abs(ref[flips]) <= RTOL * np.abs(ref).max()), (theirs, ref[flips])
        assert flips.sum() == 0, f"{name} {theirs}: {flips.sum()} binarizer flips (ties)"
    assert output.shape == golden[f"{name}_output"].shape
    assert relative_error(output.numpy(), golden[f"{name}_output"]) <= RTOL


@pytest.fixture(scope="module")
def official_checkpoint(tmp_path_factory, state):
    """The full network's checkpoint as train.py saves it (nested, ``module.`` keys)."""
    path = tmp_path_factory.mktemp("official") / "checkpoint.pth.tar"
    write_torch_zip(path, {
        "epoch": 255,
        "state_dict": {f"module.{k}": v for k, v in state.items()},
        "best_top1_acc": 69.4,
    })
    yield path
    path.unlink()


@pytest.fixture(scope="module")
def loaded(official_checkpoint):
    return ReActNetA(weights=official_checkpoint, classifier_activation=None)


def test_loading_applies_the_official_numerics(loaded, state):
    names = [layer.name for layer in loaded.layers]
    assert names[1:3] == ["official_input_norm", "official_input_flip"]
    bns = [l for l in loaded.layers if isinstance(l, tf.keras.layers.BatchNormalization)]
    assert len(bns) == 32 and {l.epsilon for l in bns} == {1e-5}
    convs = [l for l in loaded.layers if getattr(l, "kernel_size", None) == (3, 3) and l.name != "stem_conv"]
    assert len(convs) == 13 and {l.pad_values for l in convs} == {0.0}
    # HWIO, flipped 3×3 kernels; RPReLU's shift_in is the negated official move12
    kernel = loaded.get_layer("block2_3x3_conv").kernel.numpy()
    official = state["feature.2.binary_3x3.weights"].reshape(64, 64, 3, 3)
    np.testing.assert_array_equal(kernel[2 - 0, 2 - 1, 5, 7], official[7, 5, 0, 1])
    np.testing.assert_array_equal(
        loaded.get_layer("block5_3x3_act").shift_in.numpy(), -state["feature.5.move12.bias"].reshape(-1)
    )
    half = loaded.get_layer("block12_pw2_act").alpha.numpy().reshape(-1)
    np.testing.assert_array_equal(half, state["feature.12.prelu2.weight"][512:])


def test_network_reproduces_the_official_forward(loaded, golden):
    images, _ = load_samples("imagenet")
    logits = loaded.predict(preprocess_input(images), batch_size=20, verbose=0)
    official = golden["logits"]
    # The official network itself flips binarizers at round-off on some images (its
    # float64 forward differs there): lq_ext must equal its float32 or its float64 forward.
    reference = official.copy()
    errors = np.abs(logits - official).max(axis=1) / np.abs(official).max(axis=1)
    for i, logits64 in zip(golden["float64_images"], golden["float64_logits"]):
        e64 = np.abs(logits[i] - logits64).max() / np.abs(official[i]).max()
        if e64 < errors[i]:
            errors[i], reference[i] = e64, logits64
    assert np.all(errors <= RTOL), errors
    assert np.array_equal(logits.argmax(1), official.argmax(1))
    # image-specific part of the logits (minus the mean over images): same class too
    centred = lambda z: (z - reference.mean(0)).argmax(1)  # noqa: E731
    assert np.array_equal(centred(logits), centred(reference))


def test_include_top_false_with_lce_numerics(official_checkpoint, loaded):
    # numerics="lce" keeps the zoo's layout: no input stage, unflipped kernels
    features = ReActNetA(
        weights=official_checkpoint, include_top=False, pooling="avg", numerics="lce", pad_values=0.0
    )
    assert features.output_shape == (None, 1024)
    assert "official_input_flip" not in [l.name for l in features.layers]
    np.testing.assert_array_equal(
        features.get_layer("block3_3x3_conv").kernel.numpy(),
        loaded.get_layer("block3_3x3_conv").kernel.numpy()[::-1, ::-1],
    )
    np.testing.assert_array_equal(
        features.get_layer("block13_pw_bn").moving_mean.numpy(),
        loaded.get_layer("block13_pw_bn").moving_mean.numpy(),
    )


def test_checkpoint_errors_name_keys_and_shapes(state):
    shapes = official_weights.reactnet_a_shapes(REACTNET_A_WIDTHS)
    fake = {k: np.zeros(1, np.float32) for k in shapes}  # shapes are only read
    fake = {k: np.broadcast_to(v, shapes[k]) for k, v in fake.items()}
    broken = dict(fake)
    del broken["feature.3.move21.bias"]
    broken["feature.3.extra.weight"] = np.zeros(3)
    broken["fc.weight"] = np.zeros((10, 1024))
    with pytest.raises(official_weights.OfficialWeightsError) as error:
        official_weights.check_keys(broken, shapes, entry="ReActNetA")
    message = str(error.value)
    assert "missing keys: ['feature.3.move21.bias']" in message
    assert "unexpected keys: ['feature.3.extra.weight']" in message
    assert "fc.weight: checkpoint shape (10, 1024), model expects (1000, 1024)" in message
    others = {
        "layer1.0.binary_conv.weight": "looks like ReActNet's ResNet-18",
        "mlp_layer.0.mlp_layer.0.binary_conv1.weight": r"looks like BCDNet-A \(Sense-GVT/BCDNet",
        "feature.1.binary_3x3.weight": "looks like ReActNet-A's step-1 checkpoint .* load the step-2",
    }
    for key, match in others.items():
        with pytest.raises(official_weights.OfficialWeightsError, match=match):
            official_weights.check_keys({key: np.zeros(1), "fc.bias": np.zeros(1)}, shapes, entry="ReActNetA")


def test_wrong_checkpoints_through_the_zoo_entries(tmp_path):
    with pytest.raises(official_weights.OfficialWeightsError, match=r"not ReActNetA's official network: it looks like an unknown"):
        ReActNetA(weights=TINY)
    with pytest.raises(official_weights.OfficialWeightsError, match=r"not BCDNetA's official network"):
        BCDNetA(weights=TINY)
    with pytest.raises(ValueError, match=r"is a PyTorch checkpoint of an unknown architecture .* bdnet_mobilenet does not load"):
        BDNetMobileNet(weights=TINY, input_shape=(32, 32, 3), num_classes=10)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x80\x02" + b"garbage")
    with pytest.raises(torch_checkpoint.CheckpointError, match="not a readable PyTorch checkpoint"):
        ReActNetA(weights=junk)
    with pytest.raises(ValueError, match=r"numerics='official' .* multiples of 32 .* got input_shape=\(200, 200, 3\)"):
        ReActNetA(numerics="official", input_shape=(200, 200, 3))
    with pytest.raises(ValueError, match=r"numerics must be one of"):
        ReActNetA(numerics="torch")
