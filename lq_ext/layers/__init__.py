"""Keras layers that Larq lacks, one concept per module, all registered as ``lq_ext>Name``."""

from lq_ext.layers.activations import RPReLU
from lq_ext.layers.channels import ChannelBroadcast
from lq_ext.layers.depthwise import BinaryDepthwiseConv2D

__all__ = ["BinaryDepthwiseConv2D", "ChannelBroadcast", "RPReLU"]
