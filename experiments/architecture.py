"""Post-LN vs pre-LN, tied vs untied MLM decoder."""
from sandbox.experiment import Experiment

EXPERIMENT = Experiment(
    name='architecture',
    question='Pre-LN or post-LN, and should the MLM decoder share the '
             'token embedding?',
    grid={
        'layer_norm': {'post-LN': {'model.norm_first': False},
                       'pre-LN': {'model.norm_first': True}},
        'decoder': {'untied': {'model.tie_weights': False},
                    'tied': {'model.tie_weights': True}},
    },
    baseline='layer_norm=post-LN, decoder=untied',
    log_scale=True,  # tied decoders start near 60 nats, untied near 10
    background=(
        'BERT is post-LN and ties its MLM decoder to the input embedding '
        '(Devlin et al. 2019; d2l unties it). Xiong et al. (2020), "On '
        'Layer Normalization in the Transformer Architecture", show pre-LN '
        'trains without warm-up and often faster; Press & Wolf (2017) '
        'show tying saves parameters and can help. All arms use the same '
        'warm-up and linear decay. Note d2l initialises the token '
        'embedding N(0, 1): tied logits start large (std ~ sqrt(width)), '
        'which the first steps must undo.'),
)
