import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as the Makefile and the runner set it
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The tests keep the feature cache (lib/cache.py) out of outputs/: one temporary folder for the
# session, the notebook runs they start included (their kernels inherit it).
if "TLLAB_CACHE" not in os.environ:
    import tempfile

    os.environ["TLLAB_CACHE"] = tempfile.mkdtemp(prefix="tllab-cache-")
