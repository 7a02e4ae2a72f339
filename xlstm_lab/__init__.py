"""xlstm-lab: the executable companion to *xLSTM Scaling Laws* (Beck et al., arXiv 2510.02228).

Importing the package is cheap: subpackages (``fit``, ``anchors``, ``accounting``, ``plots``) are torch-free
and imported on demand; ``models`` and ``kernels`` import torch.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
