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
