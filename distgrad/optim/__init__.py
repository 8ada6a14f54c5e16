"""distgrad.optim: optimizers and learning-rate schedulers (PyTorch's torch.optim)."""
from distgrad.optim import lr_scheduler
from distgrad.optim.adagrad import Adagrad
from distgrad.optim.adam import Adam, AdamW
from distgrad.optim.optimizer import Optimizer
from distgrad.optim.rmsprop import RMSprop
from distgrad.optim.sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
