"""NSP ablation: does next sentence prediction help masked LM?"""
from sandbox.experiment import Experiment

EXPERIMENT = Experiment(
    name='nsp',
    question='Does the NSP loss help masked language modelling?',
    # Loss weights (MLM, NSP) = (1, 1), (1, 0.5), (1, 0); the data keep
    # their random B sentences in every arm, so only the loss changes
    grid={'train.nsp_weight': [1.0, 0.5, 0.0]},
    baseline='nsp_weight=1',
    background=(
        'Devlin et al. (2019, Table 5) report that removing NSP hurts '
        'downstream tasks (QNLI, MNLI, SQuAD); Liu et al. (2019, RoBERTa, '
        'Table 2) find that dropping it matches or improves them once '
        'inputs are full sentences packed from contiguous text. Here the '
        'pairs stay d2l\'s (half of the B sentences random) and only the '
        'weight of the NSP loss changes, so the question is narrower: does '
        'the NSP gradient help or hinder the MLM objective itself, as '
        'measured by validation MLM loss at the standard 15% masking?'),
)
