"""Test-session set-up shared by every test directory."""

import os

# Triton kernels run on the CPU interpreter where there is no NVIDIA device. The variable must be set before
# anything imports triton (torch._dynamo does, for one), so it is set here, before any test module is collected.
if not os.path.exists("/dev/nvidiactl"):
    os.environ.setdefault("TRITON_INTERPRET", "1")

# Property tests: the same examples on every run by default, so a test suite that passed passes again (a CI run
# must not fail on a case no earlier run saw). HYPOTHESIS_PROFILE=explore draws fresh random examples to hunt for
# new failures; report what it finds as a fixed test.
from hypothesis import settings  # noqa: E402

settings.register_profile("repeatable", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
