"""The computations behind each chapter (torch-free): tables that set our numbers beside the paper's.

One module per chapter, named like the chapter file in ``notebooks/``; notebooks call these and stay thin.
"""
