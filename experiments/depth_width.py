"""Depth x width: blocks 1/2/4 x hidden 64/128/256."""
from sandbox.experiment import Experiment

EXPERIMENT = Experiment(
    name='depth_width',
    question='How do depth and width trade off at a fixed step budget?',
    grid={
        'model.num_blks': [1, 2, 4],
        # the FFN stays twice the width, as in d2l's 128/256
        'width': {
            '64': {'model.num_hiddens': 64, 'model.ffn_num_hiddens': 128},
            '128': {'model.num_hiddens': 128, 'model.ffn_num_hiddens': 256},
            '256': {'model.num_hiddens': 256, 'model.ffn_num_hiddens': 512},
        },
    },
    baseline='num_blks=2, width=128',
    # 4 blocks of 256 take ~4x the time of d2l's size: fewer quick steps
    quick={'train.num_steps': 80, 'train.val_every': 20},
    background=(
        'd2l\'s BERT has 2 blocks of width 128 (FFN 256, 2 heads). Kaplan '
        'et al. (2020) find loss depends mostly on the parameter count, '
        'little on the depth/width shape; Geiping & Goldstein (2023, '
        '"Cramming") find that at a fixed compute budget, bigger models '
        'win only if they process enough tokens per second to make up for '
        'it. The table reports both the loss at a fixed number of steps '
        'and the speed, so the cost of each size is visible.'),
)
