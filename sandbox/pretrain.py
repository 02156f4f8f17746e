"""One pretraining run end to end: data, model, training, its own folder."""
import pathlib
import platform

import keras
import numpy as np
import tensorflow as tf

from sandbox import corpus, data
from sandbox.baseline import baselines
from sandbox.callbacks import LossPlot, RunLogger
from sandbox.checkpoint import latest_step
from sandbox.config import DataConfig, ModelConfig, TrainConfig
from sandbox.model import bert_from_config
from sandbox.plots import elapsed_seconds
from sandbox.runs import (atomic_save, claim_run_dir, new_run_dir,
                          truncate_metrics, write_part)
from sandbox.train import train_bert


def validation_baselines(counts, val_iter):
    """The unigram baseline of `counts` and NSP chance on `val_iter`."""
    labels, weights = [], []
    for batch in val_iter:
        labels.append(batch.mlm_Y.numpy())
        weights.append(batch.mlm_weights.numpy())
    return baselines(counts, np.concatenate(labels),
                     np.concatenate(weights))


def build_model(model_config, vocab_size, train_config):
    """Seed Keras and build a BERTModel in the training dtype policy."""
    keras.utils.set_random_seed(train_config.seed)
    net = bert_from_config(model_config, vocab_size,
                           dtype=train_config.dtype_policy)
    return net


def save_run_model(net, vocab, run_dir):
    """Save model.keras and vocab.txt into `run_dir`, each atomically."""
    run_dir = pathlib.Path(run_dir)
    atomic_save(run_dir / 'model.keras', net.save)
    atomic_save(run_dir / 'vocab.txt',
                lambda tmp: data.save_vocab(vocab, tmp))


def load_run_model(run_dir):
    """Load (net, vocab) saved by a pretraining run."""
    run_dir = pathlib.Path(run_dir)
    for name in ('model.keras', 'vocab.txt'):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f'run_dir: {run_dir / name} does not '
                                    'exist (not a finished run folder?)')
    net = keras.saving.load_model(run_dir / 'model.keras')
    return net, data.load_vocab(run_dir / 'vocab.txt')


def pretrain(data_config=None, model_config=None, train_config=None,
             data_dir=None, run_dir=None, plot=True, verbose=True,
             strategy=None, verify=True):
    """Pretrain a BERT on WikiText-2 and write its run folder.

    The folder holds config.json, baseline.json (the unigram baseline and
    NSP chance on the fixed validation set), metrics.csv (a row a step),
    TensorBoard scalars, loss.png / loss.gif, checkpoints/, and the trained
    model.keras + vocab.txt. A folder with a checkpoint of the same config
    resumes from it; one of another config is refused. `verify=False`
    reads a corpus of your own (no sha1 check). Returns a dict with net,
    vocab, history (all steps, resumed ones included), run_dir, baseline
    and seconds_before_resume (the step time of the steps a resumed run
    had taken before; 0 for a fresh one).
    """
    data_config = data_config or DataConfig()
    model_config = model_config or ModelConfig()
    train_config = train_config or TrainConfig()
    run_dir = pathlib.Path(run_dir) if run_dir else new_run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    data_dir = corpus.find_data_dir(data_dir)
    train_iter, vocab = data.load_data_wiki(
        data_config.batch_size, data_config.max_len, data_dir,
        config=data_config, verify=verify, drop_remainder=True)
    val_iter = data.load_validation(vocab, data_dir, verify)
    claim_run_dir(run_dir, {
        'data': data_config.to_dict(), 'model': model_config.to_dict(),
        'train': train_config.to_dict(), 'vocab_size': len(vocab),
        'steps_per_epoch': data.steps_per_epoch(data_config, data_dir,
                                                verify),
        'data_dir': str(pathlib.Path(data_dir).resolve()),
        'versions': {'tensorflow': tf.__version__,
                     'keras': keras.__version__,
                     'python': platform.python_version()}})
    baseline = validation_baselines(
        data.unigram_counts(vocab, data_dir, verify), val_iter)
    write_part(run_dir, 'baseline', baseline)
    checkpoint_dir = run_dir / 'checkpoints'
    previous = truncate_metrics(run_dir, latest_step(checkpoint_dir))
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        net = build_model(model_config, len(vocab), train_config)
    callbacks = [RunLogger(run_dir, previous=previous)]
    if plot:
        callbacks.append(LossPlot(run_dir, train_config.num_steps,
                                  history=previous, baseline=baseline))
    if verbose:
        print(f'run folder: {run_dir}')
    # Step seconds spent before a resume (what a time budget counts)
    spent = float(elapsed_seconds(previous, data_config.batch_size)[-1]) \
        if previous else 0.0
    history = train_bert(train_iter, net, len(vocab), config=train_config,
                         val_iter=val_iter, callbacks=callbacks,
                         strategy=strategy, checkpoint_dir=checkpoint_dir,
                         verbose=verbose, spent=spent)
    save_run_model(net, vocab, run_dir)
    return {'net': net, 'vocab': vocab, 'history': previous + history,
            'run_dir': run_dir, 'baseline': baseline,
            'seconds_before_resume': spent}
