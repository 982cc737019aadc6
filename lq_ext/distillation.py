"""Knowledge distillation: the student learns the teacher's output distribution.

ReActNet (Liu et al., ECCV 2020, §3.3) trains its binary student with the
*distributional loss* alone, ``−Σ_c p_T(c) log p_S(c)`` (the cross-entropy to the
teacher's softmax, no ground-truth term); BD-Net's and BCDNet's recipes follow it.
``label_weight > 0`` adds the usual cross-entropy to the labels, ``temperature``
softens both distributions (Hinton et al., 2015), with the customary ``T²`` factor so the
gradient scale does not depend on ``T``.

It sits below :mod:`lq_ext.converters` (int8 fine-tuning) and :mod:`lq_ext.training`
(the recipes), which both use it; :mod:`lq_ext.training.distillation` re-exports it.
Guide: docs/guides/training.md
"""

from __future__ import annotations

import tensorflow as tf

from lq_ext._serialization import register
from lq_ext._validate import check_number

__all__ = ["DistillationModel", "LabelCrossEntropy", "distribution_loss", "label_cross_entropy"]


def distribution_loss(teacher_logits, student_logits, temperature=1.0):
    """Per-example ``T² · Σ_c −softmax(t/T)_c · log_softmax(s/T)_c``."""
    teacher = tf.nn.softmax(tf.cast(teacher_logits, tf.float32) / temperature)
    log_student = tf.nn.log_softmax(tf.cast(student_logits, tf.float32) / temperature)
    return -tf.reduce_sum(teacher * log_student, axis=-1) * temperature**2


def label_cross_entropy(labels, logits, label_smoothing=0.0):
    """Per-example cross-entropy of integer ``labels`` against ``logits``, with the targets
    smoothed to ``(1 − ε)·onehot + ε/K`` (``torch.nn.CrossEntropyLoss(label_smoothing=ε)``)."""
    logits = tf.cast(logits, tf.float32)
    log_probs = tf.nn.log_softmax(logits)
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    nll = -tf.gather(log_probs, labels, axis=-1, batch_dims=1)
    if not label_smoothing:
        return nll
    return (1.0 - label_smoothing) * nll - label_smoothing * tf.reduce_mean(log_probs, axis=-1)


@register
class LabelCrossEntropy(tf.keras.losses.Loss):
    """Keras loss of :func:`label_cross_entropy`: integer labels, logits, ``label_smoothing`` ε
    in [0, 1) (BCDNet: 0.1)."""

    def __init__(self, label_smoothing=0.0, name="label_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = check_number("label_smoothing", label_smoothing, low=0, high=1, high_inclusive=False)

    def call(self, y_true, y_pred):
        return label_cross_entropy(y_true, y_pred, self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@register
class DistillationModel(tf.keras.Model):
    """Trains ``student`` on ``teacher``'s outputs; evaluates and predicts with the student.

    Both models map images to **logits** (``classifier_activation=None``).  The teacher
    is frozen and runs in inference mode.  The training loss per example is
    ``distribution_loss(teacher, student, temperature) + label_weight · CE(labels, student)``;
    the compiled metrics see the labels and the student's logits.  Checkpoints of this
    model hold both networks and the optimizer, so training resumes exactly; save
    ``model.student`` for deployment.

    A student with **two** outputs ``[logits, logits_dist]`` (BCDNet's DeiT-style head,
    ``distillation_head=True``) is trained as the official ``cls_solver_dist.py``:
    ``½ · [label_weight · CE(labels, logits) + distribution_loss(teacher, logits_dist)]``;
    it predicts, and the metrics see, ``(logits + logits_dist) / 2``, the official
    inference output (:func:`lq_ext.zoo.bcdnet.fold_distillation_head`).

    # Arguments
        student, teacher: ``tf.keras.Model`` with the same number of output classes;
            the student has one output or two (a dual head), the teacher one.
        temperature: softening temperature T > 0 (ReActNet: 1).
        label_weight: weight ≥ 0 of the cross-entropy to the labels (ReActNet: 0).
        label_smoothing: ε of that cross-entropy (:func:`label_cross_entropy`; BCDNet: 0.1).
    """

    def __init__(self, student, teacher, temperature=1.0, label_weight=0.0, label_smoothing=0.0, **kwargs):
        super().__init__(**kwargs)
        check_number("temperature", temperature, low=0, low_inclusive=False)
        check_number("label_weight", label_weight, low=0)
        if len(student.outputs) not in (1, 2) or len(teacher.outputs) != 1:
            raise ValueError(
                f"student {student.name!r} must have 1 output or 2 (logits, logits_dist) and "
                f"teacher {teacher.name!r} 1, got {len(student.outputs)} and {len(teacher.outputs)}."
            )
        self.dual_head = len(student.outputs) == 2
        s_shapes = student.output_shape if self.dual_head else [student.output_shape]
        s_classes, t_classes = s_shapes[-1][-1], teacher.output_shape[-1]
        if any(shape[-1] != t_classes for shape in s_shapes):
            raise ValueError(
                f"student {student.name!r} has {s_classes} outputs but teacher "
                f"{teacher.name!r} has {t_classes}; they must predict the same classes."
            )
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.temperature = float(temperature)
        self.label_weight = float(label_weight)
        self.label_smoothing = check_number("label_smoothing", label_smoothing, low=0, high=1, high_inclusive=False)
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")

    def call(self, inputs, training=False):
        return self._prediction(self.student(inputs, training=training))

    def _prediction(self, student_outputs):
        if self.dual_head:
            return 0.5 * (student_outputs[0] + student_outputs[1])
        return student_outputs

    @property
    def metrics(self):
        return [self.loss_tracker, *super().metrics]

    def _per_example_loss(self, labels, teacher_logits, student_outputs):
        label_logits, kd_logits = student_outputs if self.dual_head else (student_outputs, student_outputs)
        loss = distribution_loss(teacher_logits, kd_logits, self.temperature)
        if self.label_weight:
            loss += self.label_weight * label_cross_entropy(labels, label_logits, self.label_smoothing)
        return 0.5 * loss if self.dual_head else loss

    def train_step(self, data):
        images, labels = data[0], data[1]
        teacher_logits = self.teacher(images, training=False)
        with tf.GradientTape() as tape:
            student_logits = self.student(images, training=True)
            per_example = self._per_example_loss(labels, teacher_logits, student_logits)
            # Mean over the global batch, so MirroredStrategy replicas sum correctly.
            loss = tf.nn.compute_average_loss(per_example)
            if self.student.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.student.losses))
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.loss_tracker.update_state(tf.reduce_mean(per_example))
        self.compiled_metrics.update_state(labels, self._prediction(student_logits))
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        images, labels = data[0], data[1]
        student_logits = self.student(images, training=False)
        teacher_logits = self.teacher(images, training=False)
        per_example = self._per_example_loss(labels, teacher_logits, student_logits)
        self.loss_tracker.update_state(tf.reduce_mean(per_example))
        self.compiled_metrics.update_state(labels, self._prediction(student_logits))
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        return {
            "student": tf.keras.utils.serialize_keras_object(self.student),
            "teacher": tf.keras.utils.serialize_keras_object(self.teacher),
            "temperature": self.temperature,
            "label_weight": self.label_weight,
            "label_smoothing": self.label_smoothing,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        student = tf.keras.utils.deserialize_keras_object(config.pop("student"))
        teacher = tf.keras.utils.deserialize_keras_object(config.pop("teacher"))
        return cls(student, teacher, **config)
