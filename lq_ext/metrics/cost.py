r"""Cost records: :class:`LayerCost` per layer, :class:`ModelCost` in total.

Both hold the counted quantities (parameters and MACs by precision class, ACE, memory,
element-wise ops); BOPs, FLOPs and OPs are derived from the MACs, so every record
applies the same conventions:

- **BOPs** = 1-bit MACs + 2 × 1.58-bit MACs.  A ternary × binary MAC is "dual-binary":
  t = ½(b₁ + b₂) with b₁, b₂ ∈ {−1, +1}, so a ternary conv is the mean of two
  XNOR-popcount convs (BD-Net, arXiv:2511.17633).
- **FLOPs** = float MACs + 8-bit MACs.  int8 MACs are counted as full operations,
  which is conservative (they are cheaper than float MACs); ``macs["8-bit"]`` lists
  them separately.
- **OPs** = BOPs / 64 + FLOPs, the convention of Bi-Real Net (arXiv:1808.00278)
  and ReActNet (arXiv:2003.03488), which count conv and FC layers only.
- **ACE** = Σ MACs × b_w × b_a (PokeBNN, arXiv:2112.00133): binary 1 × 1, ternary
  weights 2 bits (dual-binary, the same factor 2 as in BOPs), 2–8-bit quantizers their
  ⌈bits⌉, and any MAC with a float side 16 × 16 = 256.
- **memory** = Σ params × storage bits (binary 1, ternary 2, 2–8-bit ⌈bits⌉, float 32).
- **elementwise** ops are reported apart and are *not* part of OPs or ACE.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lq_ext.precision import MAC_CLASSES, PARAM_CLASSES

__all__ = ["BOPS_PER_OP", "Cost", "LayerCost", "ModelCost"]

#: Bi-Real Net / ReActNet: a 64-bit CPU does 64 binary ops per instruction.
BOPS_PER_OP = 64


def _zeros(keys):
    return {key: 0 for key in keys}


@dataclass
class Cost:
    """Counted quantities shared by :class:`LayerCost` and :class:`ModelCost`.

    # Attributes
        params: parameter count per class ``"1-bit"``, ``"1.58-bit"``, ``"8-bit"``,
            ``"32-bit"``.
        macs: multiply-accumulates per class ``"1-bit"`` (binary × binary),
            ``"1.58-bit"`` (ternary × binary), ``"8-bit"`` (both sides ≤ 8 bits
            otherwise) and ``"float"`` (a side above 8 bits).
        ace: arithmetic computation effort, Σ MACs × b_w × b_a (float = 16 × 16).
        memory_bits: Σ params × storage bits.
        elementwise: element-wise ops (BN, adds, activations), not part of OPs.
    """

    params: dict = field(default_factory=lambda: _zeros(PARAM_CLASSES))
    macs: dict = field(default_factory=lambda: _zeros(MAC_CLASSES))
    ace: int = 0
    memory_bits: int = 0
    elementwise: int = 0

    @property
    def params_total(self) -> int:
        return sum(self.params.values())

    @property
    def macs_total(self) -> int:
        return sum(self.macs.values())

    @property
    def bops(self) -> int:
        """Binary ops: 1-bit MACs + 2 × 1.58-bit MACs (dual-binary)."""
        return self.macs["1-bit"] + 2 * self.macs["1.58-bit"]

    @property
    def flops(self) -> int:
        """Float ops: float MACs + 8-bit MACs (int8 counted as full ops, conservative)."""
        return self.macs["float"] + self.macs["8-bit"]

    @property
    def ops(self) -> float:
        """OPs = BOPs / 64 + FLOPs (Bi-Real Net, ReActNet)."""
        return self.bops / BOPS_PER_OP + self.flops

    @property
    def memory_bytes(self) -> float:
        return self.memory_bits / 8

    def _counts_dict(self) -> dict:
        return {
            "params": dict(self.params),
            "params_total": self.params_total,
            "macs": dict(self.macs),
            "macs_total": self.macs_total,
            "bops": self.bops,
            "flops": self.flops,
            "ops": self.ops,
            "ace": self.ace,
            "memory_bits": self.memory_bits,
            "memory_bytes": self.memory_bytes,
            "elementwise": self.elementwise,
        }


@dataclass
class LayerCost(Cost):
    """The cost of one layer, summed over all its calls in the model.

    # Attributes
        name: layer name; layers of nested models and sub-layers are prefixed with
            their parent's name (``"backbone/conv1"``).
        type: the layer's class name.
        output_shape: output shape of the first call, batch axis included.
        calls: how often the layer runs in one forward pass (shared layers and
            layers of a nested model that is called more than once).
        note: why something was not counted (e.g. weights of an unknown layer type:
            listed as params, 0 MACs), else ``""``.
    """

    name: str = ""
    type: str = ""
    output_shape: object = None
    calls: int = 1
    note: str = ""

    def to_dict(self) -> dict:
        shape = self.output_shape
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": list(shape) if isinstance(shape, tuple) else shape,
            "calls": self.calls,
            "note": self.note,
            **self._counts_dict(),
        }


@dataclass
class ModelCost(Cost):
    """Per-layer costs of a model and their totals.

    Build it with :meth:`from_layers` (as :func:`lq_ext.metrics.profile` does): the
    counted fields are the sums over ``layers``; BOPs, FLOPs and OPs derive from them.
    """

    name: str = ""
    layers: list = field(default_factory=list)

    @classmethod
    def from_layers(cls, name: str, layers: list) -> ModelCost:
        total = cls(name=name, layers=list(layers))
        for layer in layers:
            for key in PARAM_CLASSES:
                total.params[key] += layer.params[key]
            for key in MAC_CLASSES:
                total.macs[key] += layer.macs[key]
            total.ace += layer.ace
            total.memory_bits += layer.memory_bits
            total.elementwise += layer.elementwise
        return total

    def to_dict(self) -> dict:
        """Totals plus ``"layers"``, a list of :meth:`LayerCost.to_dict`; JSON-ready."""
        return {
            "name": self.name,
            **self._counts_dict(),
            "layers": [layer.to_dict() for layer in self.layers],
        }
