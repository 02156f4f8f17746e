"""Atomic, rotating training checkpoints that make a resume exact."""
import pathlib
import re

import tensorflow as tf


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be read into this run."""


def latest_step(directory):
    """The step of the newest complete checkpoint in `directory`, or 0."""
    path = tf.train.latest_checkpoint(str(directory)) \
        if pathlib.Path(directory).is_dir() else None
    return int(re.search(r'ckpt-(\d+)$', path).group(1)) if path else 0


class Checkpointer:
    """Saves model, optimizer, data iterator and step every few steps.

    tf.train.CheckpointManager writes each checkpoint's files first and
    records it in its `checkpoint` index (atomically) last, so a process
    killed at any moment leaves the previous checkpoint as the latest.
    `iterator` is a tf.data iterator whose position is saved; pass None
    where it cannot be (tf.distribute's iterators) and skip the batches
    already taken instead.
    """

    def __init__(self, directory, net, optimizer, iterator, keep=3):
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        # Keras 3 layers are not all tracked by tf.train.Checkpoint (lists
        # of blocks, dropout seed states): name every variable explicitly
        state = {'iterator': iterator} if iterator is not None else {}
        self.checkpoint = tf.train.Checkpoint(
            model=_by_name(net.variables),
            optimizer=_by_name(optimizer.variables), step=self.step, **state)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, str(directory), max_to_keep=keep)

    def restore(self):
        """Restore the newest checkpoint; return its step (0 if none)."""
        path = self.manager.latest_checkpoint
        if path is None:
            return 0
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except Exception as e:  # TF raises OpError, IndexError, ...
            raise CheckpointError(
                f'checkpoint {path} cannot be read into this model and '
                f'optimizer ({type(e).__name__}: {str(e)[:300]}); remove '
                'it, or resume with the config that wrote it') from e
        return int(self.step.numpy())

    def save(self, step):
        """Write a checkpoint for `step`, dropping the oldest beyond `keep`."""
        self.step.assign(step)
        self.manager.save(checkpoint_number=step)


def _by_name(variables):
    """A dict of variables keyed by position and shape, for checkpoints.

    Paths carry instance names (bert_model_1, adam_2) that differ between
    two models in one process, so only position and shape name a slot.
    """
    return {f'{i:04d}-' + 'x'.join(map(str, v.shape)): v
            for i, v in enumerate(variables)}
