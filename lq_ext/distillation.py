"""Knowledge distillation: the student learns the teacher's output distribution.

ReActNet (Liu et al., ECCV 2020, §3.3) trains its binary student with the
*distributional loss* alone, ``−Σ_c p_T(c) log p_S(c)`` (the cross-entropy to the
teacher's softmax, no ground-truth term); BD-Net's and BCDNet's recipes follow it.
``label_weight > 0`` adds the usual cross-entropy to the labels, ``temperature``
softens both distributions (Hinton et al., 2015), with the customary ``T²`` factor so the
gradient scale does not depend on ``T``.  :class:`DistillationModel` also trains BCDNet's
dual-head student; :class:`MultiTeacherDistillationModel` is BNext's distillation from
several teachers with per-sample teacher weights (:func:`multi_teacher_loss`).

It sits below :mod:`lq_ext.converters` (int8 fine-tuning) and :mod:`lq_ext.training`
(the recipes), which both use it; :mod:`lq_ext.training.distillation` re-exports it.
Guide: docs/guides/training.md
"""

from __future__ import annotations

import tensorflow as tf

from lq_ext._serialization import register
from lq_ext._validate import check_choice, check_number

__all__ = [
    "KD_REDUCTIONS",
    "DistillationModel",
    "LabelCrossEntropy",
    "MultiTeacherDistillationModel",
    "distribution_loss",
    "label_cross_entropy",
    "multi_teacher_loss",
    "teacher_weights",
]

#: How :func:`multi_teacher_loss` reduces each teacher's loss (see there).
KD_REDUCTIONS = ("per_sample", "released")


def distribution_loss(teacher_logits, student_logits, temperature=1.0):
    """Per-example ``T² · Σ_c −softmax(t/T)_c · log_softmax(s/T)_c``.

    At T = 1 the official ``DistributionLoss`` before its batch mean (ReActNet's; BCDNet
    ``prototype/solver/cls_solver_dist.py:31-60``; ESBNN ``utils/KD_loss.py:13-42``).
    """
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


def teacher_weights(teacher_logits, student_logits):
    """BNext's per-sample teacher weights α, shape ``[batch, k]``, no gradient.

    ``α_{n,i} = softmax_i(CE_{n,i})`` with ``CE_{n,i} = −Σ_c softmax(t_i)_{n,c} ·
    log_softmax(s)_{n,c}``: the student's cross-entropy to teacher ``i``'s distribution, at
    T = 1 and without labels (ESBNN ``src/train_assistant_group_amp_rep_ops.py:771-774``:
    ``CrossEntropyLoss(reduce=False)(logits_student, softmax(t_i))``, softmax over the
    teachers, detached).  The sign is **+**: the teacher the student disagrees with more
    weighs more ("hard knowledge").
    """
    cross_entropies = tf.stack([distribution_loss(t, student_logits) for t in teacher_logits], axis=-1)
    return tf.stop_gradient(tf.nn.softmax(cross_entropies, axis=-1))


def multi_teacher_loss(teacher_logits, student_logits, reduction="per_sample", temperature=1.0):
    """BNext's multi-teacher distillation loss per example, shape ``[batch]``.

    ``teacher_logits`` is a list of ``k`` ``[batch, classes]`` logits.  With
    ``KD_{n,i} = distribution_loss(t_i, s, temperature)_n`` and ``α`` of
    :func:`teacher_weights` (ESBNN ``src/train_assistant_group_amp_rep_ops.py:758-785``):

    - ``"per_sample"`` (the intended reading, the default): ``loss_n = (1/k) Σ_i α_{n,i} ·
      KD_{n,i}``; each sample's teachers are weighted by that sample's α.
    - ``"released"`` (what the released script computes with its default
      ``--hard_knowledge_grains Instance``): ``:768`` reduces each ``KD_i`` to its batch mean
      (``reduce = grains == "instance"`` is never true) while ``:772`` keeps α per sample, so
      ``loss_n = (1/k) Σ_i mean_m(KD_{m,i}) · α_{n,i}``, whose batch mean is
      ``(1/k) Σ_i mean(KD_i) · mean(α_i)``.  Its other setting, ``"instance"``, makes α a
      batch scalar and fails at ``alpha[:, i]`` (``:783``); and a per-sample ``KD``
      (``[N, 1, 1]`` from ``utils/KD_loss.py:39``) times α's ``[N]`` would broadcast to an
      outer product with the same mean: no runnable setting of the script is per sample
      (checked with PyTorch: ``experiments/official_kd_golden.py``).

    The ``1/k`` is the official ``sum(loss) / len(loss)`` (``:785``); ``temperature`` (1
    there) softens the ``KD`` terms only, α stays at T = 1.
    """
    check_choice("reduction", reduction, KD_REDUCTIONS)
    teacher_logits = list(teacher_logits)
    cross_entropies = tf.stack([distribution_loss(t, student_logits) for t in teacher_logits], axis=-1)
    alpha = tf.stop_gradient(tf.nn.softmax(cross_entropies, axis=-1))  # = teacher_weights(...)
    kd = cross_entropies
    if temperature != 1:
        kd = tf.stack([distribution_loss(t, student_logits, temperature) for t in teacher_logits], axis=-1)
    if reduction == "released":  # per replica under a distribution strategy, as per GPU there
        kd = tf.broadcast_to(tf.reduce_mean(kd, axis=0, keepdims=True), tf.shape(kd))
    return tf.reduce_sum(alpha * kd, axis=-1) / len(teacher_logits)


class _Distiller(tf.keras.Model):
    """The training and test steps shared by the distillation models: a frozen teacher
    side (:meth:`_teacher_logits`), a trained ``student`` and a per-example loss."""

    def _init_common(self, student):
        self.student = student
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")

    def call(self, inputs, training=False):
        return self._prediction(self.student(inputs, training=training))

    def _prediction(self, student_outputs):
        return student_outputs

    def _common_config(self):
        return {
            "student": tf.keras.utils.serialize_keras_object(self.student),
            "temperature": self.temperature,
            "label_weight": self.label_weight,
            "label_smoothing": self.label_smoothing,
            "name": self.name,
        }

    @property
    def metrics(self):
        return [self.loss_tracker, *super().metrics]

    def _teacher_logits(self, images):
        raise NotImplementedError

    def _per_example_loss(self, labels, teacher_logits, student_outputs):
        raise NotImplementedError

    def train_step(self, data):
        images, labels = data[0], data[1]
        teacher_logits = self._teacher_logits(images)
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
        per_example = self._per_example_loss(labels, self._teacher_logits(images), student_logits)
        self.loss_tracker.update_state(tf.reduce_mean(per_example))
        self.compiled_metrics.update_state(labels, self._prediction(student_logits))
        return {m.name: m.result() for m in self.metrics}


@register
class DistillationModel(_Distiller):
    """Trains ``student`` on ``teacher``'s outputs; evaluates and predicts with the student.

    Both models map images to **logits** (``classifier_activation=None``).  The teacher
    is frozen and runs in inference mode.  The training loss per example is
    ``distribution_loss(teacher, student, temperature) + label_weight · CE(labels, student)``;
    the compiled metrics see the labels and the student's logits.  Checkpoints of this
    model hold both networks and the optimizer, so training resumes exactly; save
    ``model.student`` for deployment.

    A student with **two** outputs ``[logits, logits_dist]`` (BCDNet's DeiT-style head,
    ``distillation_head=True``) is trained as the official solver
    (``prototype/solver/cls_solver_dist.py:304-313``):
    ``½ · [label_weight · CE_ε(labels, logits) + distribution_loss(teacher, logits_dist)]``
    (official: ``label_weight`` 1, ``ε`` 0.1, T = 1); it predicts, and the metrics see,
    ``(logits + logits_dist) / 2``, the official eval output (``prototype/model/a_3.py:
    361-368``; :func:`lq_ext.zoo.bcdnet.fold_distillation_head`).  The official training
    log's accuracy is the ``fc`` head's (``cls_solver_dist.py:316``).

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
        _check_classes(s_shapes, [teacher], student.name)
        self._init_common(student)
        self.teacher = teacher
        self.teacher.trainable = False
        self.temperature = float(temperature)
        self.label_weight = float(label_weight)
        self.label_smoothing = check_number("label_smoothing", label_smoothing, low=0, high=1, high_inclusive=False)

    def _prediction(self, student_outputs):
        if self.dual_head:
            return 0.5 * (student_outputs[0] + student_outputs[1])
        return student_outputs

    def _teacher_logits(self, images):
        return self.teacher(images, training=False)

    def _per_example_loss(self, labels, teacher_logits, student_outputs):
        label_logits, kd_logits = student_outputs if self.dual_head else (student_outputs, student_outputs)
        loss = distribution_loss(teacher_logits, kd_logits, self.temperature)
        if self.label_weight:
            loss += self.label_weight * label_cross_entropy(labels, label_logits, self.label_smoothing)
        return 0.5 * loss if self.dual_head else loss

    def get_config(self):
        return {**self._common_config(), "teacher": tf.keras.utils.serialize_keras_object(self.teacher)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        student = tf.keras.utils.deserialize_keras_object(config.pop("student"))
        teacher = tf.keras.utils.deserialize_keras_object(config.pop("teacher"))
        return cls(student, teacher, **config)


@register
class MultiTeacherDistillationModel(_Distiller):
    """Trains ``student`` on several teachers at once, weighted per sample (BNext).

    The loss per example is :func:`multi_teacher_loss` (``reduction``, ``temperature``)
    ``+ label_weight · CE(labels, student)`` (official: no label term,
    ``train_assistant_group_amp_rep_ops.py:758-785``).  The teachers are frozen and run in
    inference mode; evaluation and prediction use the student.  BNext-T's official teachers
    are timm's EfficientNet-B0 (the "assistant") and EfficientNet-B2 (``:271-323``, with
    ``--teacher_num 2 --assistant_teacher_num 1``); bring your own, as Keras models mapping
    the student's input images to logits.

    # Arguments
        student: ``tf.keras.Model`` with one logits output.
        teachers: a list or tuple of ≥ 2 ``tf.keras.Model``, one logits output each, the
            student's classes (one teacher: :class:`DistillationModel`).
        reduction: ``"per_sample"`` (default, the intended reading) or ``"released"`` (the
            released script's batch-mean quirk): :data:`KD_REDUCTIONS`.
        temperature: T > 0 of the distillation terms (BNext: 1).
        label_weight, label_smoothing: an optional label cross-entropy (BNext: 0).
    """

    def __init__(
        self, student, teachers, reduction="per_sample", temperature=1.0, label_weight=0.0,
        label_smoothing=0.0, **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(teachers, (list, tuple)) or not all(isinstance(t, tf.keras.Model) for t in teachers):
            raise TypeError(
                f"teachers must be a list or tuple of tf.keras.Model, got teachers={teachers!r}."
            )
        if len(teachers) < 2:
            raise ValueError(
                f"teachers must hold at least 2 models, got {len(teachers)}; for one teacher use "
                f"DistillationModel."
            )
        if len(student.outputs) != 1 or any(len(t.outputs) != 1 for t in teachers):
            raise ValueError(
                f"student {student.name!r} and every teacher must have 1 output (logits), got "
                f"{len(student.outputs)} and {[len(t.outputs) for t in teachers]}; a dual-head student "
                f"(distillation_head=True) trains with one teacher (DistillationModel)."
            )
        _check_classes([student.output_shape], teachers, student.name)
        self.reduction = check_choice("reduction", reduction, KD_REDUCTIONS)
        self.temperature = float(check_number("temperature", temperature, low=0, low_inclusive=False))
        self.label_weight = float(check_number("label_weight", label_weight, low=0))
        self.label_smoothing = check_number("label_smoothing", label_smoothing, low=0, high=1, high_inclusive=False)
        self._init_common(student)
        self.teachers = list(teachers)
        for teacher in self.teachers:
            teacher.trainable = False

    def _teacher_logits(self, images):
        return [teacher(images, training=False) for teacher in self.teachers]

    def _per_example_loss(self, labels, teacher_logits, student_outputs):
        loss = multi_teacher_loss(teacher_logits, student_outputs, self.reduction, self.temperature)
        if self.label_weight:
            loss += self.label_weight * label_cross_entropy(labels, student_outputs, self.label_smoothing)
        return loss

    def get_config(self):
        return {
            **self._common_config(),
            "teachers": [tf.keras.utils.serialize_keras_object(t) for t in self.teachers],
            "reduction": self.reduction,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        student = tf.keras.utils.deserialize_keras_object(config.pop("student"))
        teachers = [tf.keras.utils.deserialize_keras_object(t) for t in config.pop("teachers")]
        return cls(student, teachers, **config)


def _check_classes(student_shapes, teachers, student_name):
    """Every student head and every teacher predicts the same number of classes."""
    classes = {shape[-1] for shape in student_shapes}
    for teacher in teachers:
        if teacher.output_shape[-1] not in classes or len(classes) != 1:
            raise ValueError(
                f"student {student_name!r} has {sorted(classes)[0]} outputs but teacher "
                f"{teacher.name!r} has {teacher.output_shape[-1]}; they must predict the same classes."
            )
