"""Quantization-aware fine-tuning of an int8 clone: distillation from the float model.

Post-training int8 (:func:`lq_ext.converters.int8.int8_model`) is not safe for every
BNN: a value that moves by one int8 step across a binarizer's threshold flips a sign,
and a deep BNN amplifies the flips.  On four BD-Nets trained on Fashion-MNIST the int8
clone lost 2–26 points of top-1 (``experiments/int8_agreement.py``).  The remedy LCE's
int8 route implies is quantization-aware training: the clone *is* a QAT graph (fake-quant
ops with straight-through gradients inside their ranges), so a few steps of training
with the ranges fixed teach its weights to live with the rounding.

:class:`Int8Distillation` trains the clone to reproduce the float model's output
distribution (:func:`lq_ext.distillation.distribution_loss`, ReActNet's loss):
no labels are needed, and the target is what int8 mode is judged by, agreement with the
float model.  The calibrated activation ranges stay as they are (they are constants of
the clone); BatchNorm layers the clone kept (those LCE fuses into ``LceBconv2d``) run in
inference mode with their statistics frozen, so what is trained is the kernels and biases.

    from lq_ext.converters import convert
    from lq_ext.converters.int8.tuning import Int8Distillation

    convert(model, "model.tflite", int8=True, calibration=calibration_images,
            fine_tune=Int8Distillation(training_images, epochs=1))

Guide: docs/guides/int8.md
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lq_ext._validate import check_int, check_number
from lq_ext.converters.int8.kinds import softmax_output
from lq_ext.converters.int8.layers import Int8Range
from lq_ext.distillation import DistillationModel
from lq_ext.graph import source_layer

__all__ = ["DEFAULT_LEARNING_RATE", "Int8Distillation", "logits_model"]

#: Adam's learning rate, decayed to 0 by a cosine over the fine-tuning steps.  On the
#: trained Fashion-MNIST BD-Net that post-training int8 hurt most (seed 2: float 71.3 %,
#: int8 clone 45.9 % on 2,000 test images), one epoch over 5,000 training images gave the
#: clone 68.9 % at 3e-5, 70.4 % at 1e-4, 71.2 % at 3e-4 (one run each, within about two
#: standard errors of each other): the conservative middle, untuned on other networks.
DEFAULT_LEARNING_RATE = 1e-4

#: Floor of softmax probabilities before their log serves as logits (:func:`logits_model`).
_TINY = 1e-30


def logits_model(model):
    """``model`` mapping to class scores before its trailing softmax, if it has one: the
    softmax's input (skipping the int8 range after it) where the softmax is a layer of
    its own, log p (softmax(log p) = p) where the output layer applies it, else ``model``.
    Teacher and student go through the same rule, so their scores always match in kind."""
    layer = source_layer(model.outputs[0])
    while isinstance(layer, Int8Range):
        layer = source_layer(layer.input)
    if isinstance(layer, tf.keras.layers.Activation) and softmax_output(layer):
        return tf.keras.Model(model.inputs, layer.input)
    if softmax_output(layer):
        return tf.keras.Model(model.inputs, tf.math.log(tf.maximum(model.outputs[0], _TINY)))
    return model


class Int8Distillation:
    """Fine-tunes an int8 clone on its float model's outputs; pass it to
    ``convert(..., int8=True, fine_tune=...)`` or call it as ``tuning(clone, model)``.

    # Arguments
        images: training inputs, preprocessed as the model expects: an array
            ``(n, *input_shape)`` or a batched ``tf.data.Dataset`` of images or of
            ``(images, ...)`` tuples (labels are not used). Use training images, never
            the images the result is evaluated on.
        epochs: passes over ``images`` (default 1).
        batch_size: images per step, for arrays (default 64).
        learning_rate: Adam's initial learning rate, decayed to 0 by a cosine
            (default :data:`DEFAULT_LEARNING_RATE`).
        temperature: distillation temperature T > 0 (default 1, ReActNet's).

    After a call, :attr:`history` holds the mean loss of each epoch and :attr:`steps`
    the number of steps taken.
    """

    def __init__(self, images, *, epochs: int = 1, batch_size: int = 64,
                 learning_rate: float = DEFAULT_LEARNING_RATE, temperature: float = 1.0):
        epochs, batch_size = check_int("epochs", epochs, low=1), check_int("batch_size", batch_size, low=1)
        for name, value in (("learning_rate", learning_rate), ("temperature", temperature)):
            check_number(name, value, low=0, low_inclusive=False)
        if not isinstance(images, tf.data.Dataset):
            images = np.asarray(images, dtype=np.float32)
            if images.ndim < 2 or len(images) == 0 or not np.all(np.isfinite(images)):
                raise ValueError(
                    f"images must be a non-empty finite array (n, *input_shape) or a batched "
                    f"tf.data.Dataset, got an array of shape {images.shape}."
                )
        self.images = images
        self.epochs, self.batch_size = epochs, batch_size
        self.learning_rate, self.temperature = float(learning_rate), float(temperature)
        self.history: list[float] = []
        self.steps = 0

    def _dataset(self, input_shape):
        if isinstance(self.images, tf.data.Dataset):
            data = self.images.map(lambda *element: element[0])  # images, or (images, ...)
            shape = tuple(data.element_spec.shape[1:])
        else:
            shape = tuple(self.images.shape[1:])
            data = tf.data.Dataset.from_tensor_slices(self.images).shuffle(len(self.images), seed=0)
            data = data.batch(self.batch_size)
        if shape != tuple(input_shape):
            raise ValueError(
                f"Int8Distillation images have shape {shape} per image (a dataset must be "
                f"batched); the model input is {tuple(input_shape)}."
            )
        # DistillationModel's train step takes (images, labels); the labels are unused.
        return data.map(lambda x: (x, tf.zeros(tf.shape(x)[:1], tf.int32))).prefetch(2)

    def __call__(self, clone, model):
        """Train ``clone`` (the int8 clone of ``model``) in place; returns :attr:`history`."""
        if len(clone.outputs) != 1 or len(model.outputs) != 1:
            raise ValueError(
                f"int8 fine-tuning distills one classifier output; {model.name!r} has "
                f"{len(model.outputs)} outputs."
            )
        student, teacher = logits_model(clone), logits_model(model)
        data = self._dataset(clone.inputs[0].shape[1:])
        steps_per_epoch = int(data.cardinality())
        if steps_per_epoch < 1:  # unknown (e.g. a filtered dataset): count once
            steps_per_epoch = sum(1 for _ in data)
        schedule = tf.keras.optimizers.schedules.CosineDecay(self.learning_rate, steps_per_epoch * self.epochs)
        frozen = [
            layer for layer in clone.layers
            if isinstance(layer, tf.keras.layers.BatchNormalization) and layer.trainable
        ]
        # DistillationModel freezes the teacher, i.e. every layer of ``model``: restored after.
        teacher_flags = [(layer, layer.trainable) for layer in (model, *model.layers)]
        for layer in frozen:
            layer.trainable = False  # inference mode: batch statistics would move them
        try:
            distiller = DistillationModel(student, teacher, temperature=self.temperature)
            distiller.compile(optimizer=tf.keras.optimizers.Adam(schedule))
            fit = distiller.fit(data, epochs=self.epochs, verbose=0)
        finally:
            for layer in frozen:
                layer.trainable = True
            for layer, flag in teacher_flags:
                layer.trainable = flag
        self.history = [float(loss) for loss in fit.history["loss"]]
        self.steps = steps_per_epoch * self.epochs
        return self.history

    def __repr__(self):
        n = "dataset" if isinstance(self.images, tf.data.Dataset) else f"{len(self.images)} images"
        return (
            f"Int8Distillation({n}, epochs={self.epochs}, batch_size={self.batch_size}, "
            f"learning_rate={self.learning_rate:g}, temperature={self.temperature:g})"
        )
