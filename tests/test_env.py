"""lq_ext selects the legacy Keras, and says what to do when TensorFlow came first."""

import os
import subprocess
import sys


def _python(code, **env_overrides):
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", **env_overrides)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


def test_import_selects_legacy_keras_for_larq():
    result = _python("import lq_ext, larq, tensorflow as tf\nprint(tf.keras.layers.Layer.__module__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("tf_keras")


def test_tensorflow_first_with_the_variable_set_is_fine():
    result = _python("import tensorflow\nimport lq_ext\nprint('ok')", TF_USE_LEGACY_KERAS="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_tensorflow_first_without_the_variable_raises_clear_import_error():
    result = _python(
        "import tensorflow as tf\n"
        "tf.keras.layers.Layer  # Keras 3\n"
        "try:\n"
        "    import lq_ext\n"
        "except ImportError as error:\n"
        "    print('IMPORT-ERROR', error)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "IMPORT-ERROR" in result.stdout
    assert "already imported without TF_USE_LEGACY_KERAS=1" in result.stdout
    assert "export TF_USE_LEGACY_KERAS=1" in result.stdout
    assert "restart the kernel" in result.stdout


def test_tf_keras_is_left_unconverted_by_autograph_once():
    import tensorflow as tf
    from tensorflow.python.autograph.core import config
    from tensorflow.python.autograph.impl import conversion

    from lq_ext._env import leave_tf_keras_unconverted

    leave_tf_keras_unconverted()  # a second call adds nothing
    module = tf.keras.layers.Layer.__module__
    assert module.startswith("tf_keras.")
    assert len([r for r in config.CONVERSION_RULES if isinstance(r, config.DoNotConvert) and r.matches(module)]) == 1
    assert conversion.is_allowlisted(tf.keras.layers.Layer.add_weight)
    assert not conversion.is_allowlisted(_layer_with_python_control_flow().call)


def _layer_with_python_control_flow():
    import tensorflow as tf

    class SignedSum(tf.keras.layers.Layer):
        def call(self, inputs):
            total = tf.reduce_sum(inputs)
            if total > 0:  # a tensor condition: needs AutoGraph in a functional model
                return inputs
            return -inputs

    return SignedSum()


def test_user_layers_are_still_converted_in_functional_models():
    import numpy as np
    import tensorflow as tf

    inputs = tf.keras.Input((3,))
    model = tf.keras.Model(inputs, _layer_with_python_control_flow()(inputs))
    np.testing.assert_array_equal(model(np.array([[1.0, -3.0, 1.0]], np.float32)).numpy(), [[-1.0, 3.0, -1.0]])
    np.testing.assert_array_equal(model(np.array([[1.0, 3.0, 1.0]], np.float32)).numpy(), [[1.0, 3.0, 1.0]])
