import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as the Makefile and the runner set it
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
