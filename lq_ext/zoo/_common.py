"""What every zoo entry shares: the standard arguments, input, head, weights, docstring.

A zoo entry has the larq-zoo / keras.applications keyword-only signature
(:data:`STANDARD_ARGUMENTS`); it puts them into one :class:`ZooArgs`, validated once,
and hands that to :func:`build_model` with its network body. Overview: docs/index.md.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from lq_ext import torch_checkpoint
from lq_ext.data.preprocessing import to_unit_range
from lq_ext.zoo.official_weights import describe

#: Inputs up to this side length get a model's small-input layout (CIFAR, STL-10 at
#: 64 px, Tiny ImageNet, Fashion-MNIST padded to 32).
SMALL_INPUT_MAX = 64

POOLINGS = (None, "avg", "max")

#: The arguments every zoo entry takes, in this order, keyword-only (then its own knobs, then ``name``).
STANDARD_ARGUMENTS = (
    "input_shape",
    "input_tensor",
    "weights",
    "include_top",
    "num_classes",
    "pooling",
    "classifier_activation",
)


def check_flag(name, value, model_name=None):
    """``value`` must be True or False (ValueError, the zoo's message since its first release)."""
    if not isinstance(value, bool):
        where = f"{model_name}: " if model_name else ""
        raise ValueError(f"{where}{name} must be True or False, got {name}={value!r}.")
    return value


def preprocess_input(images):
    """Map uint8 pixels in [0, 255] to float32 in [−1, 1], the zoo's input convention
    (:func:`lq_ext.data.to_unit_range`, the one implementation of ``x / 127.5 − 1``)."""
    return to_unit_range(images)


def validate_input_shape(input_shape, *, default, min_size, model_name):
    """Return a valid ``(H, W, C)``; None gives ``default``. Errors name the value."""
    if input_shape is None:
        return tuple(default)
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
    ):
        raise ValueError(
            f"{model_name}: input_shape must be (height, width, channels) with positive "
            f"ints, got input_shape={input_shape!r}."
        )
    if min(shape[:2]) < min_size:
        raise ValueError(
            f"{model_name}: input_shape={shape} is too small: height and width must be "
            f"at least {min_size} px (pad smaller images, e.g. 28x28 Fashion-MNIST to 32x32)."
        )
    return shape


def validate_head_args(*, include_top, num_classes, pooling, classifier_activation, weights, model_name):
    if not isinstance(include_top, bool):
        raise ValueError(f"{model_name}: include_top must be True or False, got {include_top!r}.")
    if include_top and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes <= 0
    ):
        raise ValueError(
            f"{model_name}: num_classes must be a positive int, got num_classes={num_classes!r}."
        )
    if pooling not in POOLINGS:
        raise ValueError(
            f"{model_name}: pooling must be one of {list(POOLINGS)}, got pooling={pooling!r}."
        )
    if classifier_activation not in (None, "softmax", "linear"):
        raise ValueError(
            f"{model_name}: classifier_activation must be 'softmax', 'linear' or None "
            f"(logits), got classifier_activation={classifier_activation!r}."
        )
    validate_weights(weights, model_name)


def validate_weights(weights, model_name):
    """``weights`` is None (random init) or the path of a local weights file."""
    if weights is None:
        return
    if not isinstance(weights, (str, os.PathLike)) or (
        isinstance(weights, str) and weights in ("imagenet", "imagenet21k", "pretrained")
    ):
        raise ValueError(
            f"{model_name}: weights must be None (random initialisation) or the path of a "
            f"local weights file (.h5 or TF checkpoint) saved from the same architecture; "
            f"got weights={weights!r}. No pretrained lq_ext weights are hosted yet."
        )
    path = os.fspath(weights)
    if not (os.path.exists(path) or os.path.exists(path + ".index")):
        raise FileNotFoundError(f"{model_name}: weights file {path!r} does not exist.")


@dataclass(frozen=True)
class ZooArgs:
    """The seven standard arguments of a zoo entry plus its model name, validated once.

    ``input_shape`` is resolved on construction: ``input_tensor``'s shape when only the
    tensor is given, else ``(224, 224, 3)``; it must be ``(H, W, C)`` with H, W ≥ 32.
    """

    model_name: str
    input_shape: Any = None
    input_tensor: Any = None
    weights: Any = None
    include_top: bool = True
    num_classes: int = 1000
    pooling: Any = None
    classifier_activation: Any = "softmax"

    def __post_init__(self):
        validate_head_args(
            include_top=self.include_top,
            num_classes=self.num_classes,
            pooling=self.pooling,
            classifier_activation=self.classifier_activation,
            weights=self.weights,
            model_name=self.model_name,
        )
        shape = self.input_shape
        if self.input_tensor is not None and shape is None:
            shape = tuple(self.input_tensor.shape[1:])
        shape = validate_input_shape(shape, default=(224, 224, 3), min_size=32, model_name=self.model_name)
        object.__setattr__(self, "input_shape", shape)

    @property
    def small_input(self) -> bool:
        """Inputs up to :data:`SMALL_INPUT_MAX` px get the entry's small-input layout."""
        return max(self.input_shape[:2]) <= SMALL_INPUT_MAX


def model_input(input_shape, input_tensor):
    """The Keras input of a zoo model, as keras.applications builds it."""
    if input_tensor is None:
        return tf.keras.layers.Input(shape=input_shape)
    if not tf.keras.backend.is_keras_tensor(input_tensor):
        return tf.keras.layers.Input(tensor=input_tensor, shape=input_shape)
    return input_tensor


def global_pool(x, name="global_pool"):
    """Global average pool as AveragePooling2D + Flatten (faster in LCE, like larq-zoo)."""
    x = tf.keras.layers.AveragePooling2D(pool_size=tuple(x.shape[1:3]), name=f"{name}_avg")(x)
    return tf.keras.layers.Flatten(name=f"{name}_flatten")(x)


def head(x, *, include_top, num_classes, pooling, classifier_activation):
    """Float classifier (pool → Dense → float32 softmax) or the requested pooling."""
    if include_top:
        x = global_pool(x)
        x = tf.keras.layers.Dense(num_classes, name="logits")(x)
        if classifier_activation == "softmax":
            x = tf.keras.layers.Activation("softmax", dtype="float32", name="predictions")(x)
        return x
    if pooling == "avg":
        return global_pool(x)
    if pooling == "max":
        return tf.keras.layers.GlobalMaxPooling2D(name="global_max_pool")(x)
    return x


def finish_model(inputs, outputs, *, input_tensor, weights, name):
    """Wrap in a Model (keeping input_tensor's sources) and load ``weights``."""
    if input_tensor is not None:
        inputs = tf.keras.utils.get_source_inputs(input_tensor)
    model = tf.keras.Model(inputs, outputs, name=name)
    if weights is not None:
        load_weights(model, weights)
    return model


def load_weights(model, path):
    """Load a local weights file, turning a shape mismatch into a clear error."""
    path = os.fspath(path)
    if torch_checkpoint.is_torch_checkpoint(path):
        state = torch_checkpoint.load_state_dict(path)
        raise ValueError(
            f"{path!r} is a PyTorch checkpoint of {describe(state)}; {model.name} does not load "
            f"official PyTorch checkpoints (lq_ext.zoo.ReActNetA does; "
            f"docs/guides/pretrained_weights.md)."
        )
    try:
        model.load_weights(path)
    except (ValueError, KeyError, OSError, tf.errors.OpError) as error:
        raise ValueError(
            f"Could not load weights file {path!r} into {model.name}: it was not saved "
            f"from this architecture and configuration (same input_shape, include_top, "
            f"num_classes and options), and it is not a PyTorch checkpoint either. "
            f"Underlying error: {str(error).splitlines()[0]}"
        ) from error


def build_model(body, args: ZooArgs, *, check_shape=None, top=None) -> tf.keras.Model:
    """The frame every zoo entry shares: input → ``body`` → head → weights.

    Calls ``check_shape(args.input_shape)`` for entry-specific limits, builds
    ``body(inputs, small_input)`` (``small_input`` is True up to :data:`SMALL_INPUT_MAX`
    px), then the standard head — or ``top(x)`` when given and ``include_top`` — and
    loads ``weights``.
    """
    if check_shape is not None:
        check_shape(args.input_shape)
    inputs = model_input(args.input_shape, args.input_tensor)
    x = body(inputs, args.small_input)
    if args.include_top and top is not None:
        outputs = top(x)
    else:
        outputs = head(
            x,
            include_top=args.include_top,
            num_classes=args.num_classes,
            pooling=args.pooling,
            classifier_activation=args.classifier_activation,
        )
    return finish_model(
        inputs, outputs, input_tensor=args.input_tensor, weights=args.weights, name=args.model_name
    )


#: The standard arguments' documentation, appended to every entry's docstring
#: (``BASE_DOCSTRING.format(...)``, as keras.applications does).
BASE_DOCSTRING = """
    # Arguments
        input_shape: ``(H, W, C)``, default ``(224, 224, 3)`` (or ``input_tensor``'s
            shape); H, W ≥ 32.
        input_tensor: optional Keras tensor to use as the input.
        weights: None (random init) or the path of a local weights file saved from
            the same configuration. No pretrained weights are hosted.
        include_top: add the classifier ({classifier}).
        num_classes: classes of the classifier (include_top only).
        pooling: without the top, None ({features}), ``"avg"`` or ``"max"``.
        classifier_activation: ``"softmax"`` or None / ``"linear"`` for logits.
{model_args}        name: model name (default ``{name}``).

    # Returns
        A ``tf.keras.Model``.{returns}
"""


def document(
    *,
    name,
    notes="",
    model_args="",
    classifier="float: global pool → Dense → softmax",
    features="the feature map",
    returns="",
):
    """Decorator appending :data:`BASE_DOCSTRING` to an entry's own summary docstring.

    ``model_args`` documents the entry's own knobs (lines indented by 8 spaces, each
    ending in a newline); ``name`` is the default model name; ``notes`` (a paragraph
    starting with a newline) goes between the summary and the arguments.
    """

    def decorator(fn):
        fn.__doc__ = (fn.__doc__ or "").rstrip() + "\n" + notes + BASE_DOCSTRING.format(
            name=name, model_args=model_args, classifier=classifier, features=features, returns=returns
        )
        return fn

    return decorator


class _Unset:
    """Default of a deprecated keyword: tells "not passed" apart from any real value (None included)."""

    def __repr__(self):
        return "UNSET"


UNSET = _Unset()


def renamed_keyword(old_name, old_value, new_name, new_value, new_default, *, model_name=None):
    """Resolve a renamed keyword argument: the old spelling keeps working with a DeprecationWarning.

    Returns the value to use; passing both spellings (the new one away from its default)
    is an error naming both.
    """
    if old_value is UNSET:
        return new_value
    warnings.warn(
        f"{old_name}= is deprecated, use {new_name}= (same meaning).", DeprecationWarning, stacklevel=3
    )
    if new_value is not new_default and new_value != new_default:
        where = f"{model_name}: " if model_name else ""
        raise ValueError(
            f"{where}pass {new_name} or its deprecated spelling {old_name}, not both; got "
            f"{new_name}={new_value!r}, {old_name}={old_value!r}."
        )
    return old_value
