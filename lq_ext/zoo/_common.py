"""What every zoo entry shares: argument validation, input, head and weight loading."""

from __future__ import annotations

import os

import tensorflow as tf

#: Inputs up to this side length get a model's small-input layout (CIFAR, STL-10 at
#: 64 px, Tiny ImageNet, Fashion-MNIST padded to 32).
SMALL_INPUT_MAX = 64

POOLINGS = (None, "avg", "max")


def preprocess_input(images):
    """Map uint8 pixels in [0, 255] to float32 in [−1, 1], the zoo's input convention."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


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
    try:
        model.load_weights(path)
    except (ValueError, KeyError, OSError, tf.errors.OpError) as error:
        raise ValueError(
            f"Could not load weights file {path!r} into {model.name}: it was not saved "
            f"from this architecture and configuration (same input_shape, include_top, "
            f"num_classes and options). Underlying error: {str(error).splitlines()[0]}"
        ) from error


def build_model(
    body,
    *,
    model_name,
    input_shape,
    input_tensor,
    weights,
    include_top,
    num_classes,
    pooling,
    classifier_activation,
    check_shape=None,
    top=None,
):
    """The frame every zoo entry shares: arguments → input → ``body`` → head → weights.

    Validates the larq-zoo arguments (``input_shape`` defaults to 224×224×3, or to
    ``input_tensor``'s shape; at least 32 px), calls ``check_shape(input_shape)`` for
    entry-specific limits, builds ``body(inputs, small_input)`` (``small_input`` is
    True up to :data:`SMALL_INPUT_MAX` px), then the standard head — or ``top(x)``
    when given and ``include_top`` — and loads ``weights``.
    """
    validate_head_args(
        include_top=include_top,
        num_classes=num_classes,
        pooling=pooling,
        classifier_activation=classifier_activation,
        weights=weights,
        model_name=model_name,
    )
    if input_tensor is not None and input_shape is None:
        input_shape = tuple(input_tensor.shape[1:])
    input_shape = validate_input_shape(
        input_shape, default=(224, 224, 3), min_size=32, model_name=model_name
    )
    if check_shape is not None:
        check_shape(input_shape)
    inputs = model_input(input_shape, input_tensor)
    x = body(inputs, max(input_shape[:2]) <= SMALL_INPUT_MAX)
    if include_top and top is not None:
        outputs = top(x)
    else:
        outputs = head(
            x,
            include_top=include_top,
            num_classes=num_classes,
            pooling=pooling,
            classifier_activation=classifier_activation,
        )
    return finish_model(inputs, outputs, input_tensor=input_tensor, weights=weights, name=model_name)
