"""The datasets of the 2019 fastai hyperparameter study, as hpstudy plugins.

Each module reads one dataset exactly as it is distributed; see the README's dataset section.
"""
