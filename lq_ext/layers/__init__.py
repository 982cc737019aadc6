"""Keras layers that Larq lacks, one concept per module, all registered as ``lq_ext>Name``.

activations (RPReLU, DPReLU, HardSigmoid), bias (LearnableBias), channels
(ChannelBroadcast, ChannelSlice), dense (BinaryDense), depthwise (BinaryDepthwiseConv2D),
embedding (BCDNet-B's contextual embedding builders), es (ESQuantConv2D), flip
(SpatialFlip), grouped (GroupedQuantConv2D), mix (ClampedMix), scale (ChannelScale),
shift (CircularShift), shortcut (ReshapeAdd).
"""

from lq_ext.layers.activations import DPReLU, HardSigmoid, RPReLU
from lq_ext.layers.bias import LearnableBias
from lq_ext.layers.channels import ChannelBroadcast, ChannelSlice
from lq_ext.layers.dense import BinaryDense
from lq_ext.layers.depthwise import BinaryDepthwiseConv2D
from lq_ext.layers.es import ESQuantConv2D
from lq_ext.layers.flip import SpatialFlip
from lq_ext.layers.grouped import GroupedQuantConv2D
from lq_ext.layers.mix import ClampedMix
from lq_ext.layers.scale import ChannelScale
from lq_ext.layers.shift import CircularShift
from lq_ext.layers.shortcut import ReshapeAdd

__all__ = [
    "BinaryDense",
    "BinaryDepthwiseConv2D",
    "ChannelBroadcast",
    "ChannelScale",
    "ChannelSlice",
    "CircularShift",
    "ClampedMix",
    "DPReLU",
    "ESQuantConv2D",
    "GroupedQuantConv2D",
    "HardSigmoid",
    "LearnableBias",
    "RPReLU",
    "ReshapeAdd",
    "SpatialFlip",
]
