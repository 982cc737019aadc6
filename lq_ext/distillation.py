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

__all__ = ["DistillationModel", "distribution_loss"]


def distribution_loss(teacher_logits, student_logits, temperature=1.0):
    """Per-example ``T² · Σ_c −softmax(t/T)_c · log_softmax(s/T)_c``."""
    teacher = tf.nn.softmax(tf.cast(teacher_logits, tf.float32) / temperature)
    log_student = tf.nn.log_softmax(tf.cast(student_logits, tf.float32) / temperature)
    return -tf.reduce_sum(teacher * log_student, axis=-1) * temperature**2


@register
class DistillationModel(tf.keras.Model):
    """Trains ``student`` on ``teacher``'s outputs; evaluates and predicts with the student.

    Both models map images to **logits** (``classifier_activation=None``).  The teacher
    is frozen and runs in inference mode.  The training loss per example is
    ``distribution_loss(teacher, student, temperature) + label_weight · CE(labels, student)``;
    the compiled metrics see the labels and the student's logits.  Checkpoints of this
    model hold both networks and the optimizer, so training resumes exactly; save
    ``model.student`` for deployment.

    # Arguments
        student, teacher: ``tf.keras.Model`` with the same number of outputs classes.
        temperature: softening temperature T > 0 (ReActNet: 1).
        label_weight: weight ≥ 0 of the cross-entropy to the labels (ReActNet: 0).
    """

    def __init__(self, student, teacher, temperature=1.0, label_weight=0.0, **kwargs):
        super().__init__(**kwargs)
        check_number("temperature", temperature, low=0, low_inclusive=False)
        check_number("label_weight", label_weight, low=0)
        s_classes, t_classes = student.output_shape[-1], teacher.output_shape[-1]
        if s_classes != t_classes:
            raise ValueError(
                f"student {student.name!r} has {s_classes} outputs but teacher "
                f"{teacher.name!r} has {t_classes}; they must predict the same classes."
            )
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.temperature = float(temperature)
        self.label_weight = float(label_weight)
        self._ce = tf.keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction=tf.keras.losses.Reduction.NONE
        )
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    @property
    def metrics(self):
        return [self.loss_tracker, *super().metrics]

    def _per_example_loss(self, labels, teacher_logits, student_logits):
        loss = distribution_loss(teacher_logits, student_logits, self.temperature)
        if self.label_weight:
            loss += self.label_weight * self._ce(labels, student_logits)
        return loss

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
        self.compiled_metrics.update_state(labels, student_logits)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        images, labels = data[0], data[1]
        student_logits = self.student(images, training=False)
        teacher_logits = self.teacher(images, training=False)
        per_example = self._per_example_loss(labels, teacher_logits, student_logits)
        self.loss_tracker.update_state(tf.reduce_mean(per_example))
        self.compiled_metrics.update_state(labels, student_logits)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        return {
            "student": tf.keras.utils.serialize_keras_object(self.student),
            "teacher": tf.keras.utils.serialize_keras_object(self.teacher),
            "temperature": self.temperature,
            "label_weight": self.label_weight,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        student = tf.keras.utils.deserialize_keras_object(config.pop("student"))
        teacher = tf.keras.utils.deserialize_keras_object(config.pop("teacher"))
        return cls(student, teacher, **config)
