"""Keras layers that Larq lacks, one concept per module, all registered as ``lq_ext>Name``."""

from lq_ext.layers.activations import RPReLU
from lq_ext.layers.channels import ChannelBroadcast
from lq_ext.layers.depthwise import BinaryDepthwiseConv2D
from lq_ext.layers.embedding import LearnableBias
from lq_ext.layers.shift import CircularShift

__all__ = ["BinaryDepthwiseConv2D", "ChannelBroadcast", "CircularShift", "LearnableBias", "RPReLU"]

from lq_ext.layers.es import ChannelSlice, ESQuantConv2D  # noqa: E402

__all__ += ["ChannelSlice", "ESQuantConv2D"]
