"""Static vs dynamic masking."""
from sandbox.experiment import Experiment

# Ten epochs of the full corpus: ~43.6k pairs make 340 batches of 128, so
# 3,410 steps; validation once an epoch.
EPOCH = 341

EXPERIMENT = Experiment(
    name='static_dynamic',
    question='Do fresh masks every epoch (dynamic) beat masks drawn once '
             '(static)?',
    grid={'data.masking': ['static', 'dynamic']},
    baseline='masking=static',
    predictions={'masking=dynamic': (
        'final_val_mlm_l', -1, 'RoBERTa Table 1: dynamic equal or slightly '
        'better; our static repeats one mask for 10 epochs')},
    full={'train.num_steps': 10 * EPOCH, 'train.warmup_steps': EPOCH,
          'train.val_every': EPOCH, 'train.checkpoint_every': EPOCH},
    # Quick: the pairs that fit in 32 tokens (~5,200, 81 batches of 64)
    # for 240 steps, about 3 epochs
    quick={'data.max_len': 32, 'train.num_steps': 240,
           'train.warmup_steps': 24, 'train.val_every': 40,
           'train.checkpoint_every': 40},
    x_axis='epoch',
    background=(
        'd2l (like the original BERT code) draws the masks once, when the '
        'data set is built: every epoch shows the same masked words. '
        'RoBERTa (Liu et al. 2019, Table 1) draws new masks each time a '
        'sequence is seen and reports it slightly better or equal, dynamic '
        'vs static: SQuAD 2.0 78.7 vs 78.3 F1, MNLI-m 84.0 vs 84.3 '
        '(static better), SST-2 '
        '92.9 vs 92.5, with static masking there duplicating the data 10 '
        'times with 10 masks over 40 epochs. Here static means one mask '
        'for all ten epochs, a harsher static arm, so the prediction is a '
        'gain for dynamic masking that opens after the first epoch, '
        'when static masking starts repeating itself, and widens as the '
        'static arm memorises its masked words (training loss falling '
        'below validation loss, validation loss rising from its best). '
        'RoBERTa\'s differences are fine-tuning scores of under half a '
        'point, not MLM losses, so their size does not carry over to '
        'nats; with ten repeats of one mask instead of four of ten, a '
        'larger effect than theirs is expected.'),
)
