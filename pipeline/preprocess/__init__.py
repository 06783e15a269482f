"""Page preprocessing on derivatives (never the master): the steps, each recorded and switchable."""

from pipeline.preprocess.prepare import Prepared, Step, prepare_page

__all__ = ["Prepared", "Step", "prepare_page"]
