"""Adam as torch takes it, and the learning-rate schedules.

torch's Adam(W) (epsilon on sqrt(v_hat)); warm-up with linear or cosine
decay, over the steps or, under a time budget, over the share of the
budget spent.
"""
import math

import keras
import tensorflow as tf


def learning_rate(config):
    """Adam's learning rate: constant, or warm-up and decay per config.

    Under a time budget, a number: the loop sets it step by step
    (budget_rate).
    """
    if config.time_budget:
        return budget_rate(config, 0.0)
    if config.warmup_steps == 0 and config.decay == 'constant':
        return config.lr
    return WarmupDecay(config.lr, config.warmup_steps, config.num_steps,
                       config.decay)


def budget_rate(config, spent):
    """The rate of a time-budgeted run that has spent `spent` (0 to 1) of it.

    WarmupDecay read at the same share of num_steps: the warm-up takes
    warmup_steps / num_steps of the budget, and the decay the rest, as in
    cramming's budget-aware schedules (Geiping & Goldstein 2023).
    """
    schedule = WarmupDecay(config.lr, config.warmup_steps, config.num_steps,
                           config.decay)
    step = min(spent, 1.0) * config.num_steps
    return float(schedule(tf.constant(max(0.0, step - 1.0))))


@keras.saving.register_keras_serializable(package='sandbox')
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `lr`, then constant, linear or cosine decay.

    Step k (1-based) of a warm-up of w steps takes lr * k / w; the decay
    runs over the remaining n = num_steps - w steps and reaches 0 one step
    after the last, so step w + j takes lr * (n - j + 1) / n (linear) or
    lr * (1 + cos(pi * (j - 1) / n)) / 2 (cosine): the last step still
    learns, as in Hugging Face's schedules.

    Not a Keras schedule: Keras has no warm-up with linear decay
    (PolynomialDecay has no warm-up), and CosineDecay's warm-up starts
    from its initial rate at iteration 0 and leaves the peak after one
    step, where this one (like the runs already shipped) holds it for two.
    As a function of the optimizer's iterations alone, it continues
    exactly when a run resumes.
    """

    def __init__(self, lr, warmup_steps, num_steps, decay='linear'):
        self.lr, self.warmup_steps = lr, warmup_steps
        self.num_steps, self.decay = num_steps, decay

    def __call__(self, step):
        step = tf.cast(step, tf.float32) + 1.0  # the step being taken
        warm = self.lr * tf.minimum(1.0, step / max(1, self.warmup_steps))
        if self.decay == 'constant':
            return warm
        # Steps into the decay, from 0 at its first step
        done = tf.maximum(0.0, step - self.warmup_steps - 1)
        frac = tf.minimum(1.0, done / max(
            1, self.num_steps - self.warmup_steps))
        if self.decay == 'cosine':
            decayed = 0.5 * self.lr * (1 + tf.cos(math.pi * frac))
        else:
            decayed = self.lr * (1.0 - frac)
        return tf.where(step <= self.warmup_steps, warm, decayed)

    def get_config(self):
        return {'lr': self.lr, 'warmup_steps': self.warmup_steps,
                'num_steps': self.num_steps, 'decay': self.decay}


@keras.saving.register_keras_serializable(package='sandbox')
class Adam(keras.optimizers.Adam):
    """Adam with torch.optim.Adam's epsilon: added to sqrt(v_hat).

    Keras adds epsilon to sqrt(v) and folds the bias corrections into the
    step size; torch divides by sqrt(v_hat) + eps, which is Keras's update
    with epsilon * sqrt(1 - beta_2 ** t). With `weight_decay` it is
    torch's AdamW: the weights shrink by lr * weight_decay before the step.
    """

    def update_step(self, gradient, variable, learning_rate):
        """One Adam step of `variable`, as torch.optim.Adam takes it.

        TensorFlow's fused ResourceApplyAdam kernel updates m, v and the
        weights in one pass (Keras's update took nine elementwise ops,
        8% of a step at the default recipe's sizes), with the epsilon
        above.
        """
        dtype = variable.dtype
        t = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = (tf.cast(b, dtype) for b in (self.beta_1,
                                                       self.beta_2))
        beta_1_power, beta_2_power = tf.pow(beta_1, t), tf.pow(beta_2, t)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].value.handle,
            v=self._velocities[index].value.handle,
            beta1_power=beta_1_power, beta2_power=beta_2_power,
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype) * tf.sqrt(1 - beta_2_power),
            grad=tf.cast(gradient, dtype))


# Weights that decoupled weight decay leaves alone, as BERT and RoBERTa
NO_DECAY = ('bias', 'beta', 'gamma', 'decoder_bias')


def make_optimizer(config):
    """Return torch-style Adam(W) with the config's schedule and clipping.

    Under mixed_float16, a LossScaleOptimizer keeps small gradients from
    underflowing (bfloat16 has float32's range and needs none).
    """
    optimizer = Adam(learning_rate(config), beta_1=config.beta_1,
                     beta_2=config.beta_2, epsilon=config.epsilon,
                     weight_decay=config.weight_decay or None,
                     global_clipnorm=config.clip_norm)
    if config.weight_decay:
        optimizer.exclude_from_weight_decay(var_names=NO_DECAY)
    if config.dtype_policy == 'mixed_float16':
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
