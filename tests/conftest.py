import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import lq_ext  # noqa: E402,F401  (selects legacy Keras before anything imports TensorFlow)
