"""shrinkage: linear classifiers and MLPs in NumPy with regularization done right.

Public names: the estimators, :class:`EarlyStopping`, the :mod:`penalties`
module, and :func:`save` / :func:`load`.
"""

from . import penalties
from .early_stopping import EarlyStopping
from .estimators import LinearClassifier, MLPClassifier, MLPRegressor
from .network_estimator import LearnedNothingWarning, TrainingDivergedWarning
from .serialization import ModelFileError, load, save

__all__ = ["MLPClassifier", "MLPRegressor", "LinearClassifier", "EarlyStopping", "penalties",
           "save", "load", "ModelFileError", "TrainingDivergedWarning", "LearnedNothingWarning"]
__version__ = "0.1.0"
