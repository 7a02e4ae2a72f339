"""Test-session set-up shared by every test directory."""

import os

# Triton kernels run on the CPU interpreter where there is no NVIDIA device. The variable must be set before
# anything imports triton (torch._dynamo does, for one), so it is set here, before any test module is collected.
if not os.path.exists("/dev/nvidiactl"):
    os.environ.setdefault("TRITON_INTERPRET", "1")
