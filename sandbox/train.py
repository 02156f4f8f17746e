"""Pretraining: the compiled train step, validation and d2l's train_bert."""
import math
import warnings

import keras
import tensorflow as tf
from d2l import tensorflow as d2l

from sandbox import machine
from sandbox.checkpoint import Checkpointer, latest_step
from sandbox.config import TrainConfig
from sandbox.loss import get_batch_loss_bert
from sandbox.optim import budget_rate, make_optimizer

# What a step reports: the loss parts, the total, the accuracies and the
# gradient's norm (under tf.distribute, the sum of the replicas' norms)
METRICS = ('mlm_l', 'nsp_l', 'l', 'mlm_acc', 'nsp_acc', 'grad_norm')


def strategy_for(devices=None):
    """Return a tf.distribute strategy over `devices` (all visible if None).

    One device runs under the default strategy; several under
    MirroredStrategy, which splits each global batch across them. On many
    machines, create a MultiWorkerMirroredStrategy yourself and pass it to
    `train_bert` as `strategy=`: the step code is the same.
    """
    if devices is None:  # as d2l.try_all_gpus(), else the CPU
        devices = [d.name for d in tf.config.list_logical_devices('GPU')]
    if not devices:  # d2l.try_all_gpus() on a CPU machine gives []
        devices = [tf.config.list_logical_devices('CPU')[0].name]
    devices = [_device_name(d) for d in devices]
    if len(devices) == 1:
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy(devices)


def _device_name(device):
    """A device's name: a string, a LogicalDevice, or d2l.gpu()'s context.

    d2l.gpu(i) returns tf.device('/GPU:i'), whose name TensorFlow keeps
    only in a private attribute.
    """
    if isinstance(device, str):
        return device
    name = getattr(device, 'name', None) or getattr(device, '_device_name',
                                                    None)
    if not isinstance(name, str):
        raise ValueError(f'devices: {device!r} is not a device (a name such '
                         "as '/GPU:0', or d2l.try_all_gpus()'s)")
    return name


def _global_parts(loss, batch):
    """Rescale a replica's mean losses to its share of the global means.

    The MLM mean of a global batch is sum(ce * w) / sum(w) over all
    replicas, so each replica's weighted mean is multiplied by its share of
    the weights (its share of the pairs for NSP); summed over replicas, the
    parts equal the single-device losses of the same global batch.
    """
    ctx = tf.distribute.get_replica_context()
    w = tf.reduce_sum(tf.cast(batch.mlm_weights, tf.float32))
    n = tf.cast(tf.shape(batch.nsp_y)[0], tf.float32)
    w_all, n_all = ctx.all_reduce('sum', [w, n])
    mlm_share, nsp_share = tf.math.divide_no_nan(w, w_all), n / n_all
    return {'mlm_l': loss.mlm_l * mlm_share, 'nsp_l': loss.nsp_l * nsp_share,
            'mlm_acc': loss.mlm_acc * mlm_share,
            'nsp_acc': loss.nsp_acc * nsp_share}


def _clip_summed(grads, clip_norm, num_replicas):
    """Clip the replicas' summed gradients by their global norm.

    Keras clips each replica's gradients before summing them, by the norm
    of that replica's share: sum and clip here instead, and hand Keras
    1 / num_replicas of the result, which its clipping leaves alone and
    its sum restores.
    """
    grads = tf.distribute.get_replica_context().all_reduce('sum', grads)
    grads, _ = tf.clip_by_global_norm(grads, clip_norm)
    return [g / num_replicas for g in grads]


def make_train_step(net, optimizer, config, strategy):
    """Return a compiled step: batch -> dict of METRICS (global means).

    The loss is get_batch_loss_bert's fused one (the same values up to
    float rounding), with the encoder on the valid tokens (config.unpad)
    and attention in config.length_groups groups of rows by length;
    under XLA (config.jit_compile) with static shapes, padding included.
    """
    mlm_weight, nsp_weight = config.mlm_weight, config.nsp_weight

    def replica_step(batch):
        with tf.GradientTape() as tape:
            loss = get_batch_loss_bert(net, batch, fused=True,
                                       static_shapes=config.jit_compile,
                                       unpad=config.unpads,
                                       length_groups=config.length_groups)
            parts = _global_parts(loss, batch)
            parts['l'] = mlm_weight * parts['mlm_l'] + \
                nsp_weight * parts['nsp_l']
            scaled = optimizer.scale_loss(parts['l'])
        grads = tape.gradient(scaled, net.trainable_variables)
        # Embedding gradients come as IndexedSlices with repeated rows;
        # Keras's Adam squares those slice by slice (v gets sum(g**2), not
        # sum(g)**2) and densifies them twice: densify them once
        grads = [g if g is None else tf.convert_to_tensor(g) for g in grads]
        # Non-finite if any gradient is: training stops on it (float16's
        # loss scaling skips such steps by design, so it is not checked)
        parts['grad_norm'] = tf.linalg.global_norm(grads)
        if config.clip_norm and strategy.num_replicas_in_sync > 1:
            grads = _clip_summed(grads, config.clip_norm,
                                 strategy.num_replicas_in_sync)
        optimizer.apply_gradients(zip(grads, net.trainable_variables))
        return parts

    @tf.function(jit_compile=config.jit_compile, reduce_retracing=True)
    def step(batch):
        parts = strategy.run(replica_step, args=(batch,))
        return {k: strategy.reduce('SUM', v, axis=None)
                for k, v in parts.items()}

    return step


def float32_twin(net):
    """A float32 copy of a mixed-precision `net` (None if it is float32).

    Validation, fill-mask and probing all read float32 logits: scored
    through the bfloat16 head instead, a mixed-precision run's validation
    numbers would not be the model's. Copy the weights in with
    twin.set_weights(net.get_weights()) before each use.
    """
    if net.dtype_policy.compute_dtype == 'float32':
        return None
    twin = type(net).from_config({**net.get_config(), 'dtype': 'float32'})
    twin.build()
    return twin


def make_eval_step(net, strategy):
    """Return a compiled step: batch -> weighted sums of loss and accuracy."""

    def replica_step(batch):
        loss = get_batch_loss_bert(net, batch, training=False, fused=True,
                                   unpad=True)
        w = tf.reduce_sum(tf.cast(batch.mlm_weights, tf.float32))
        n = tf.cast(tf.shape(batch.nsp_y)[0], tf.float32)
        return {'mlm_l': loss.mlm_l * w, 'mlm_acc': loss.mlm_acc * w,
                'nsp_l': loss.nsp_l * n, 'nsp_acc': loss.nsp_acc * n,
                'w': w, 'n': n}

    @tf.function(reduce_retracing=True)
    def step(batch):
        sums = strategy.run(replica_step, args=(batch,))
        return {k: strategy.reduce('SUM', v, axis=None)
                for k, v in sums.items()}

    return step


def make_reference_step(net, optimizer, jit_compile=False):
    """The straightforward step that make_train_step's must match.

    d2l's loss on all (B, P, V) logits (get_batch_loss_bert, fused=False),
    MLM and NSP weighted 1, on one device, without grad_norm. Embedding
    gradients are densified as make_train_step's: Keras 3's Adam squares
    IndexedSlices slice by slice (v would get sum(g**2), not sum(g)**2).
    """
    def step(batch):
        with tf.GradientTape() as tape:
            parts = _global_parts(get_batch_loss_bert(net, batch), batch)
            parts['l'] = parts['mlm_l'] + parts['nsp_l']
        grads = tape.gradient(parts['l'], net.trainable_variables)
        grads = [tf.convert_to_tensor(g) for g in grads]
        optimizer.apply_gradients(zip(grads, net.trainable_variables))
        return parts

    return tf.function(step, jit_compile=jit_compile, reduce_retracing=True)


def evaluate(net, data_iter, num_batches=None, strategy=None, step=None):
    """Validation metrics over `num_batches` of `data_iter` (all if None).

    Batches are combined by their MLM weights and pair counts, so the result
    is the weighted mean over all predictions, as one big batch would give.
    Returns val_mlm_l, val_mlm_acc, val_ppl (exp of val_mlm_l), val_nsp_l,
    val_nsp_acc. Pass `step` (make_eval_step's) to reuse its trace.
    """
    strategy = strategy or tf.distribute.get_strategy()
    step = step or make_eval_step(net, strategy)
    if num_batches is not None:
        data_iter = data_iter.take(num_batches)
    total = {}
    for batch in _distribute(data_iter, strategy):
        for k, v in step(batch).items():
            total[k] = total.get(k, 0.0) + float(v)
    w, n = max(total['w'], 1e-12), max(total['n'], 1.0)
    return {'val_mlm_l': total['mlm_l'] / w,
            'val_mlm_acc': total['mlm_acc'] / w,
            'val_ppl': math.exp(min(total['mlm_l'] / w, 700.0)),
            'val_nsp_l': total['nsp_l'] / n,
            'val_nsp_acc': total['nsp_acc'] / n}


def _distribute(dataset, strategy):
    """The dataset as the strategy's replicas take it."""
    if strategy.num_replicas_in_sync == 1:
        return dataset
    return strategy.experimental_distribute_dataset(dataset)


def check_batch(net, batch, vocab_size):
    """Raise ValueError naming the field when a batch cannot fit `net`."""
    if net.vocab_size != vocab_size:
        raise ValueError(f'vocab_size={vocab_size} but the model was built '
                         f'for {net.vocab_size} tokens')
    tokens = batch.tokens.numpy()
    if tokens.min() < 0 or tokens.max() >= vocab_size:
        raise ValueError(f'tokens: ids must lie in [0, {vocab_size - 1}], '
                         f'found {tokens.min()}..{tokens.max()}')
    if tokens.shape[1] > net.max_len:
        raise ValueError(f'max_len: batches of {tokens.shape[1]} tokens '
                         f'exceed the model positional capacity max_len='
                         f'{net.max_len}')
    b, p = batch.pred_positions.shape
    for name in ('mlm_weights', 'mlm_Y'):
        if tuple(getattr(batch, name).shape) != (b, p):
            shape = tuple(getattr(batch, name).shape)
            raise ValueError(f'{name}: shape {shape} does not match '
                             f'pred_positions {(b, p)}')
    if tuple(batch.nsp_y.shape) != (b,):
        raise ValueError(f'nsp_y: shape {tuple(batch.nsp_y.shape)} does not '
                         f'match the batch size {b}')


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss."""


class EmulatedDtypeWarning(UserWarning):
    """A mixed-precision policy the hardware does not compute natively."""


def warn_if_emulated(dtype_policy, strategy):
    """Warn (once) that mixed_bfloat16 on a CPU without bfloat16 is slow."""
    on_cpu = all('CPU' in d.upper() for d in _device_names(strategy))
    if dtype_policy == 'mixed_bfloat16' and on_cpu and \
            not machine.native_bf16():
        isa = ' '.join(machine.instruction_sets()) or 'no AVX2'
        warnings.warn(
            f'dtype mixed_bfloat16: this CPU ({isa}) has no native bfloat16 '
            '(AVX512_BF16 or AMX), so it is emulated and training will be '
            'slower than in float32', EmulatedDtypeWarning, stacklevel=3)


def train_bert(train_iter, net, vocab_size, devices=None, num_steps=None, *,
               config=None, val_iter=None, callbacks=(), strategy=None,
               checkpoint_dir=None, verbose=True, spent=0.0):
    """Pretrain `net` on `train_iter` for `num_steps` steps, as d2l does.

    Args:
        train_iter: a tf.data.Dataset of BERTBatch; iterated epoch by epoch.
        net: a BERTModel (built inside `strategy`'s scope if distributed).
        vocab_size: the vocabulary size (checked against net and batches).
        devices: device names for the default strategy (all GPUs, else CPU).
        num_steps: steps to take; overrides config.num_steps when given.
        config: a TrainConfig (lr, warm-up, loss weights, clipping, ...).
        val_iter: validation batches, evaluated every config.val_every
            steps (and at the end).
        callbacks: objects with on_step(step, row) and on_end(history).
        checkpoint_dir: save model, optimizer, data position and step there
            every config.checkpoint_every steps and at the end, and resume
            from its newest checkpoint if it has one.
        spent: seconds of steps a resumed run took before (the steps a
            config.time_budget counts).
    Returns:
        The history of the steps taken: one dict per step (step, METRICS,
        lr, pairs_per_sec, and val_* at validation steps).
    """
    config = config or TrainConfig()
    if num_steps is not None:
        config = config.replace(num_steps=num_steps)
    strategy = strategy or strategy_for(devices)
    first = next(iter(train_iter), None)
    if first is None:
        raise ValueError('train_iter: an epoch yielded no batch (is '
                         'batch_size larger than the number of pairs?)')
    check_batch(net, first, vocab_size)
    warn_if_emulated(config.dtype_policy, strategy)
    optimizer, train_step, validate = _build_steps(net, config, strategy)
    batches, checkpointer, start = _resume(train_iter, net, optimizer,
                                           config, strategy, checkpoint_dir,
                                           verbose)
    progbar = keras.utils.Progbar(config.num_steps, verbose=int(verbose),
                                  stateful_metrics=METRICS + ('pairs/s',))
    meter, history = _Meter(), []
    budget = config.time_budget * 60 if config.time_budget else None
    for step in range(start + 1, config.num_steps + 1):
        if budget is not None:  # the rate reads the share of time spent
            optimizer.learning_rate = budget_rate(config, spent / budget)
        # The rate this step takes (the schedule reads the step count)
        lr = float(tf.convert_to_tensor(optimizer.learning_rate))
        row, rate = meter.step(train_step, next(batches), strategy)
        spent += meter.timer.times[-1]
        last = step == config.num_steps or (budget is not None and
                                            spent >= budget)
        if config.dtype_policy == 'mixed_float16':
            row.pop('grad_norm')  # loss scaling skips non-finite gradients
        if not all(map(math.isfinite, row.values())):
            raise NonFiniteLossError(_non_finite_message(
                step, row, checkpointer))
        row.update(step=step, lr=lr, pairs_per_sec=rate)
        if val_iter is not None and _due(step, config.val_every, last):
            row.update(validate(val_iter, config.val_batches))
        history.append(row)
        progbar.update(step, [(k, row[k]) for k in METRICS[:3]] +
                       [('pairs/s', rate)])
        # Rows first, checkpoint after: a resume drops rows past its step
        for callback in callbacks:
            callback.on_step(step, row)
        if checkpointer is not None and _due(
                step, config.checkpoint_every, last):
            checkpointer.save(step)
        if last:
            break
    if verbose and meter.timer.times:
        print(meter.summary(strategy))
    for callback in callbacks:
        callback.on_end(history)
    return history


def _build_steps(net, config, strategy):
    """Build net and Adam in `strategy`'s scope; compile the steps.

    Returns (optimizer, train_step, validate(val_iter, num_batches)).
    A mixed-precision net validates through its float32 twin, into which
    its weights are copied first.
    """
    with strategy.scope():
        if not net.built:
            net.build()
        optimizer = make_optimizer(config)
        optimizer.build(net.trainable_variables)
    train_step = make_train_step(net, optimizer, config, strategy)
    with strategy.scope():
        twin = float32_twin(net)
    eval_net = twin or net
    eval_step = make_eval_step(eval_net, strategy)

    def validate(val_iter, num_batches):
        if twin is not None:
            twin.set_weights(net.get_weights())
        return evaluate(eval_net, val_iter, num_batches, strategy, eval_step)

    return optimizer, train_step, validate


def _resume(train_iter, net, optimizer, config, strategy, checkpoint_dir,
            verbose):
    """(batches, Checkpointer or None, the step to start after).

    Epoch after epoch, as d2l's loop. One iterator, whose position a
    checkpoint saves; tf.distribute's cannot be saved, so a resumed
    distributed run skips the batches taken (the pipeline is seeded).
    """
    distributed = strategy.num_replicas_in_sync > 1
    skip = latest_step(checkpoint_dir) if checkpoint_dir and distributed \
        else 0
    batches = iter(_distribute(train_iter.repeat().skip(skip), strategy))
    if checkpoint_dir is None:
        return batches, None, 0
    checkpointer = Checkpointer(checkpoint_dir, net, optimizer,
                                None if distributed else batches,
                                config.keep_checkpoints)
    start = checkpointer.restore()
    if verbose and start:
        print(f'resumed from the checkpoint of step {start}')
    return batches, checkpointer, start


def _due(step, every, last):
    """Whether `step` is the `last` one or a multiple of `every` (if 0:
    only the last)."""
    return last or bool(every and step % every == 0)


class _Meter:
    """Step times and d2l's sums: MLM loss, NSP loss, pairs, steps.

    The first step traces the step function: the throughput leaves it out.
    """

    def __init__(self):
        self.sums = d2l.Accumulator(4)  # MLM loss, NSP loss, pairs, steps
        self.timer, self.timed_pairs = d2l.Timer(), 0

    def step(self, train_step, batch, strategy):
        """Take and time one step; return its METRICS and its pairs/sec."""
        num_pairs = sum(int(t.shape[0]) for t in
                        strategy.experimental_local_results(batch.nsp_y))
        self.timer.start()
        row = {k: float(v) for k, v in train_step(batch).items()}
        elapsed = self.timer.stop()
        if len(self.timer.times) > 1:
            self.timed_pairs += num_pairs
        self.sums.add(row['mlm_l'], row['nsp_l'], num_pairs, 1)
        return row, num_pairs / elapsed

    def summary(self, strategy):
        """d2l's lines: the mean losses, and the pairs/sec after tracing."""
        times, sums = self.timer.times, self.sums
        rate = self.timed_pairs / sum(times[1:]) if len(times) > 1 else \
            sums[2] / sum(times)
        return (f'MLM loss {sums[0] / sums[3]:.3f}, NSP loss '
                f'{sums[1] / sums[3]:.3f}\n{rate:.1f} sentence pairs/sec on '
                f'{_device_names(strategy)} (first step, with tracing: '
                f'{times[0]:.1f} s)')


def _non_finite_message(step, row, checkpointer):
    """What went wrong at `step`, what was kept, and how to go on."""
    parts = ', '.join(f'{k}={row[k]:.4g}' for k in METRICS if k in row)
    kept = (f'the last good checkpoint (step '
            f'{int(checkpointer.step.numpy())}) is untouched; it resumes '
            'from there' if checkpointer is not None and
            checkpointer.step.numpy() else 'no checkpoint was written')
    return (f'non-finite loss at step {step} ({parts}); {kept}. --resume '
            'would repeat it with the saved config: start a new run (a new '
            '--out) with a lower learning rate (--lr), gradient clipping '
            '(--clip-norm) or more warm-up (--warmup-steps).')


def _device_names(strategy):
    """The devices a strategy runs on, as d2l prints them."""
    if strategy.num_replicas_in_sync > 1:
        return list(strategy.extended.worker_devices)
    return [d.name for d in (tf.config.list_logical_devices('GPU')
                             or tf.config.list_logical_devices('CPU'))[:1]]
