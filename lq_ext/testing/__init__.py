"""Helpers for testing layers and models without trained weights.

- :func:`randomize_weights`: realistic random weights for conversion and parity checks;
- :func:`layer_test`: one harness for every layer and quantizer (larq's ``layer_test``);
- :func:`keyword_mismatches`: keyword parity of a quantized layer with its Keras twin;
- :func:`layer_classes`: the layer classes a module defines (to check a test table
  covers them all).
"""

from lq_ext.testing.harness import layer_classes, layer_test
from lq_ext.testing.twins import keyword_mismatches
from lq_ext.testing.weights import randomize_weights

__all__ = ["keyword_mismatches", "layer_classes", "layer_test", "randomize_weights"]
