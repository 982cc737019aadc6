"""The zoo's catalog: one card per registered model, with its paper and published figures.

Standard library only (no TensorFlow, no lq_ext import): ``lq-ext list`` and the docs
read it by file path without starting TensorFlow. The TF-side registry
(:mod:`lq_ext.zoo._registry`) takes each entry's description, paper and engine from here.

Figures are the papers' own, as printed (``ops=0.87e8`` is "0.87×10⁸"); a field is None
where the paper gives none. ``reproduced`` names the figures that
:func:`lq_ext.metrics.profile` reproduces today at the paper's precision (its
significant digits), at ``input_size`` — the registry test asserts exactly those.
Cost conventions: BOPs = binary MACs, FLOPs = float MACs, OPs = BOPs/64 + FLOPs
(Bi-Real / ReActNet), ACE as PokeBNN defines it. Overview: docs/index.md.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CARDS", "MODEL_NAMES", "ModelCard", "card", "format_table"]

#: A card's ``status``: what the implementation rests on.
STATUSES = ("official", "reconstruction", "reference")

#: The cost figures a card can carry, in ``format_table``'s order.
COST_FIGURES = ("bops", "flops", "ops", "ace")


@dataclass(frozen=True)
class ModelCard:
    """What is known about one registered model.

    # Attributes
        name: registry key (snake_case).
        entry: the entry point's import path (``lq_ext.zoo.BDNetMobileNet``).
        description: one line for listings.
        paper: title, authors and venue of the defining paper.
        arxiv: the arXiv id (``2511.17633``), or None.
        status: ``"official"`` (built from the authors' released code or config),
            ``"reconstruction"`` (from the paper without code, or beyond it) or
            ``"reference"`` (a third-party model: larq-zoo, Keras applications).
        official: what is taken from the paper or its official code.
        reconstructed: what is inferred (empty for references).
        engine: the converter that suits it: ``"lce"`` or ``"tflite"`` (float models).
        top1: published ImageNet top-1 accuracy in %, or None.
        bops, flops, ops, ace: published costs at ``input_size``, as the paper gives them.
        input_size: side of the input the figures are for (224 for ImageNet).
        figures_source: where the figures come from (table, poster, README, code).
        reproduced: the cost figures ``lq_ext.profile`` reproduces at the paper's precision.
        docs: the documentation page (relative to the repository).
    """

    name: str
    entry: str
    description: str
    paper: str
    arxiv: str | None
    status: str
    official: str
    reconstructed: str = ""
    engine: str = "lce"
    top1: float | None = None
    bops: float | None = None
    flops: float | None = None
    ops: float | None = None
    ace: float | None = None
    input_size: int | None = 224
    figures_source: str = ""
    reproduced: tuple[str, ...] = ()
    docs: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {list(STATUSES)}, got status={self.status!r}.")
        if self.engine not in ("lce", "tflite"):
            raise ValueError(f"engine must be one of ['lce', 'tflite'], got engine={self.engine!r}.")
        for figure in self.reproduced:
            if figure not in COST_FIGURES or getattr(self, figure) is None:
                raise ValueError(f"{self.name}: reproduced names {figure!r}, which the card has no figure for.")

    @property
    def reference(self) -> bool:
        """A third-party reference model (larq-zoo, Keras applications)."""
        return self.status == "reference"

    @property
    def citation(self) -> str:
        """``paper`` with its arXiv id, for listings."""
        return f"{self.paper}, arXiv:{self.arxiv}" if self.arxiv else self.paper

    def figures(self) -> dict[str, float]:
        """The published figures the card has: ``{"top1": 69.4, "bops": 4.82e9, ...}``."""
        names = ("top1",) + COST_FIGURES
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


_BDNET = (
    'Kim, Lee, Kim, Lee, Lee, "BD-Net: Has Depth-Wise Convolution Ever Been Applied in '
    'Binary Neural Networks?", AAAI 2026'
)
_REACTNET = (
    'Liu, Shen, Savvides, Cheng, "ReActNet: Towards Precise Binary Neural Networks with '
    'Generalized Activation Functions", ECCV 2020'
)
_BCDNET = (
    'Xing, Li, Li, Ding, Jiang, Wang, Shao, Liu, Liu, "Towards Accurate Binary Neural Networks '
    'via Modeling Contextual Dependencies", ECCV 2022'
)
_ESBNN = 'Shi, Sun, Qi, Hao, Yang, "Expanding-and-Shrinking Binary Neural Networks", 2025'
_POKEBNN = 'Zhang, Zhang, Lew, "PokeBNN: A Binary Pursuit of Lightweight Accuracy", CVPR 2022'
_LCE = (
    'Bannink et al., "Larq Compute Engine: Design, Benchmark, and Deploy State-of-the-Art '
    'Binarized Neural Networks", MLSys 2021 (larq-zoo QuickNet)'
)
_MOBILENET = (
    'Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision '
    'Applications", 2017'
)
_ES_RECONSTRUCTED = (
    "the network, its layout and where tau / groups apply (the official code implements ES "
    "on BNext only); binary group convolution (g)"
)

_CARDS = (
    ModelCard(
        name="bdnet_mobilenet",
        entry="lq_ext.zoo.BDNetMobileNet",
        description="BD-Net binary MobileNetV1: 1.58-bit depth-wise, pre-BN residuals",
        paper=_BDNET,
        arxiv="2511.17633",
        status="reconstruction",
        official="abstract only: 1.58-bit convolution, pre-BN residual, binary MobileNetV1 at about 33 M OPs",
        reconstructed=(
            "ternary depth-wise weights and their threshold, residual placement, broadcast "
            "residual, widths and layout (no paper body, no code)"
        ),
        ops=33e6,
        figures_source="abstract (TL;DR): 'about 33M' OPs",
        docs="docs/models/bdnet.md",
    ),
    ModelCard(
        name="bdnet_mobilenet_naive",
        entry="lq_ext.zoo.BDNetMobileNetNaive",
        description="BD-Net's naive baseline: 1-bit depth-wise, post-BN (ReActNet) residuals",
        paper=_BDNET,
        arxiv="2511.17633",
        status="reconstruction",
        official="abstract only: the naive binary depth-wise network the claim is measured against",
        reconstructed="the whole network (BDNetMobileNet with depthwise_bits=1, residual_mode='post_bn')",
        docs="docs/models/bdnet.md",
    ),
    ModelCard(
        name="reactnet_a",
        entry="lq_ext.zoo.ReActNetA",
        description="ReActNet-A: binary MobileNetV1 with RSign/RPReLU (BD-Net's and BCDNet's baseline)",
        paper=_REACTNET,
        arxiv="2003.03488",
        status="official",
        official="block and layout as re-released in BCDNet's code (Sense-GVT/BCDNet a_3.py)",
        reconstructed="LCE deviations: +1 padding of binary 3x3 convs, WeightClip(1.0); the small-input layout",
        top1=69.4,
        bops=4.82e9,
        flops=0.12e8,
        ops=0.87e8,
        figures_source="ReActNet paper (top-1); BCDNet poster table (BOPs, FLOPs and OPs, stem and FC as float)",
        reproduced=("bops", "flops", "ops"),
        docs="docs/models/reactnet.md",
    ),
    ModelCard(
        name="bcdnet_a",
        entry="lq_ext.zoo.BCDNetA",
        description="BCDNet-A: ReActNet-A conv blocks + 3 binary shift-MLP blocks at 7x7x1024",
        paper=_BCDNET,
        arxiv="2209.01404",
        status="official",
        official="released code (Sense-GVT/BCDNet a_3.py): shift, point and MLP blocks, layout, distillation head",
        reconstructed="LCE deviations: +1 padding, per-branch binarizers after the shift; the small-input layout",
        top1=71.8,
        bops=4.82e9,
        flops=0.12e8,
        ops=0.87e8,
        figures_source="ECCV poster table (parenthesised FLOPs / OPs: stem and one FC as float)",
        reproduced=("bops", "flops", "ops"),
        docs="docs/models/bcdnet.md",
    ),
    ModelCard(
        name="bcdnet_b",
        entry="lq_ext.zoo.BCDNetB",
        description="BCDNet-B: BCDNet-A + contextual dynamic embeddings in the conv blocks (reconstruction)",
        paper=_BCDNET,
        arxiv="2209.01404",
        status="reconstruction",
        official="BCDNet-A's code; the poster's figure (embeddings in the conv blocks) and cost table",
        reconstructed="the dynamic embeddings' size (embedding_reduction=4), activation and sharing",
        top1=72.3,
        bops=4.82e9,
        flops=0.14e8,
        ops=0.89e8,
        figures_source="ECCV poster table (parenthesised FLOPs / OPs)",
        reproduced=("bops", "flops", "ops"),
        docs="docs/models/bcdnet.md",
    ),
    ModelCard(
        name="es_resnet20",
        entry="lq_ext.zoo.ESResNet20",
        description="ES-BNN CIFAR ResNet-20 with expanding-and-shrinking (tau) and binary group conv (groups)",
        paper=_ESBNN,
        arxiv="2503.23709",
        status="reconstruction",
        official="the ES operator as the official code builds it for BNext (tau); the CIFAR-10 ablation (Fig. 5)",
        reconstructed=_ES_RECONSTRUCTED,
        input_size=32,
        docs="docs/models/esbnn.md",
    ),
    ModelCard(
        name="es_resnet18",
        entry="lq_ext.zoo.ESResNet18",
        description="ES-BNN ReActNet ResNet-18 with expanding-and-shrinking (tau) and binary group conv (groups)",
        paper=_ESBNN,
        arxiv="2503.23709",
        status="reconstruction",
        official="the ES operator as the official code builds it for BNext (tau); the README chart",
        reconstructed=_ES_RECONSTRUCTED + "; the baseline's identity (ReActNet ResNet-18)",
        top1=68.0,
        figures_source="official README bar chart, read off the chart (about 65.9 -> 68.0)",
        docs="docs/models/esbnn.md",
    ),
    ModelCard(
        name="es_reactnet",
        entry="lq_ext.zoo.ESReActNet",
        description="ES-BNN ReActNet-A (MobileNetV1 widths, full 3x3 binary convs) with tau / groups",
        paper=_ESBNN,
        arxiv="2503.23709",
        status="reconstruction",
        official="the ES operator as the official code builds it for BNext (tau)",
        reconstructed=_ES_RECONSTRUCTED,
        docs="docs/models/esbnn.md",
    ),
    ModelCard(
        name="es_bnext_tiny",
        entry="lq_ext.zoo.ESBNextTiny",
        description="ES-BNN BNext-Tiny (official 'ops' variant, tau=2; tau=1 is plain BNext-Tiny)",
        paper=_ESBNN + "; BNext: Guo et al., arXiv:2211.12933",
        arxiv="2503.23709",
        status="official",
        official="official code (imfinethanks/ESBNN src/bnext_rep_ops.py): layout, blocks, quantizers, tau",
        reconstructed="readings where the code is ambiguous: binarized weights (temperature end state), +1 padding",
        top1=75.2,
        ops=0.89e8,
        figures_source="official README table (BNext-T: 72.4 % at 0.88e8 OPs)",
        reproduced=("ops",),
        docs="docs/models/esbnn.md",
    ),
    ModelCard(
        name="pokebnn_075",
        entry="lq_ext.zoo.PokeBNN075",
        description="PokeBNN-0.75x (ACE 2.59 G; the abstract's 70.5 % model, multiplier inferred)",
        paper=_POKEBNN,
        arxiv="2112.00133",
        status="reconstruction",
        official="official code (google/aqt pokebnn.py) for the network at 1.0x; the abstract's figures",
        reconstructed="the width multiplier 0.75, inferred from the abstract's ACE",
        top1=70.5,
        ace=2.6e9,
        figures_source="abstract: 'small PokeBNN 70.5 % at 2.6 ACE' (G-ACE)",
        reproduced=("ace",),
        docs="docs/models/pokebnn.md",
    ),
    ModelCard(
        name="pokebnn_10",
        entry="lq_ext.zoo.PokeBNN1_0",
        description="PokeBNN-1.0x (ACE 4.22 G; the released config)",
        paper=_POKEBNN,
        arxiv="2112.00133",
        status="official",
        official="official code and config (google/aqt pokebnn.py); its regression test's ACE",
        reconstructed="deployment choices for TFLite: int8 outputs, per-tensor bounds, 1x1-conv classifier",
        ace=4_222_541_824,
        figures_source="official code's regression test (conv 4,091,469,824 + dense 131,072,000)",
        reproduced=("ace",),
        docs="docs/models/pokebnn.md",
    ),
    ModelCard(
        name="pokebnn_14",
        entry="lq_ext.zoo.PokeBNN14",
        description="PokeBNN-1.4x (ACE 7.76 G; the abstract's 75.6 % model, multiplier inferred)",
        paper=_POKEBNN,
        arxiv="2112.00133",
        status="reconstruction",
        official="official code (google/aqt pokebnn.py) for the network at 1.0x; the abstract's figures",
        reconstructed="the width multiplier 1.4, inferred from the abstract's ACE",
        top1=75.6,
        ace=7.8e9,
        figures_source="abstract: 'larger PokeBNN 75.6 % at 7.8 ACE' (G-ACE)",
        reproduced=("ace",),
        docs="docs/models/pokebnn.md",
    ),
    ModelCard(
        name="quicknet_small",
        entry="larq_zoo.sota.QuickNetSmall",
        description="larq-zoo QuickNetSmall (reference BNN)",
        paper=_LCE,
        arxiv="2011.09398",
        status="reference",
        official="larq-zoo's own implementation (built with random weights)",
        top1=59.4,
        figures_source="larq-zoo documentation",
    ),
    ModelCard(
        name="quicknet",
        entry="larq_zoo.sota.QuickNet",
        description="larq-zoo QuickNet (reference BNN)",
        paper=_LCE,
        arxiv="2011.09398",
        status="reference",
        official="larq-zoo's own implementation (built with random weights)",
        top1=63.3,
        figures_source="larq-zoo documentation",
    ),
    ModelCard(
        name="mobilenet_v1_float",
        entry="tf.keras.applications.MobileNet",
        description="float MobileNetV1 (Keras applications, standard TFLite converter)",
        paper=_MOBILENET,
        arxiv="1704.04861",
        status="reference",
        official="Keras applications' implementation (built with random weights)",
        engine="tflite",
    ),
)

#: Every card by registry name.
CARDS: dict[str, ModelCard] = {c.name: c for c in _CARDS}

#: Every registered model name, sorted (equal to ``lq_ext.zoo.list_models()``).
MODEL_NAMES: tuple[str, ...] = tuple(sorted(CARDS))


def card(name: str) -> ModelCard:
    """The :class:`ModelCard` of ``name``; a KeyError lists the names."""
    try:
        return CARDS[name]
    except KeyError:
        raise KeyError(f"No card for {name!r}. Cards: {', '.join(MODEL_NAMES)}.") from None


def _format_figure(name: str, value: float) -> str:
    if name == "top1":
        return f"{value:g} %"
    for power, suffix in ((9, "G"), (6, "M")):
        if value >= 10**power:
            return f"{value / 10**power:.4g} {suffix}"
    return f"{value:g}"


def format_table(include_references: bool = True) -> str:
    """The catalog as a text table for ``lq-ext list``: name, status, paper, figures."""
    cards = [c for c in _CARDS if include_references or not c.reference]
    cards.sort(key=lambda c: c.name)
    rows = []
    for c in cards:
        figures = ", ".join(f"{n} {_format_figure(n, v)}" for n, v in c.figures().items())
        if figures and c.input_size:
            figures += f" @ {c.input_size} px"
        paper = f"arXiv:{c.arxiv}" if c.arxiv else ""
        rows.append((c.name, c.status, paper, c.description, figures or "-"))
    header = ("name", "status", "paper", "description", "published figures")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    lines = []
    for row in [header] + rows:
        cells = [row[i].ljust(widths[i]) for i in range(4)] + [row[4]]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(header[4]))
    return "\n".join(lines)
