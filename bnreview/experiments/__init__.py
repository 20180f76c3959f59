"""The runs each chapter makes, one submodule per chapter; every public name is imported here (``ex.X``).

* :mod:`~bnreview.experiments.common`: what the chapters share: :func:`run_seeds` and
  :func:`run_grid` (every run through :func:`bnreview.cache.cached_train`, over the seeds),
  :data:`VAL_SIZE` (the held-out validation images), :func:`sweep_config` (the learning-rate
  sweep's run, which other chapters reuse), summaries over seeds, and numbers derived from a
  finished run, cached beside it (:func:`cached_numbers`).
* :mod:`~bnreview.experiments.review`: the review's LeNet without and with BN (:func:`review_runs`).
* :mod:`~bnreview.experiments.lr_sweep`: does BN allow larger learning rates, and where must it go:
  the one list of BN placements (:data:`PLACEMENTS`) and of learning rates (:data:`LRS`), the sweep
  (:func:`lr_sweep_runs`), the placement grid (:func:`placement_grid`), and the explorer's grid
  (:func:`compute_grid`, :class:`Grid`, :func:`grid_summary`), which :mod:`bnreview.explorer` draws.
* :mod:`~bnreview.experiments.paper_mnist`: the paper's MNIST experiment (Sec. 4.1, Figure 1).
* :mod:`~bnreview.experiments.what_bn_does`: noisy BN, the batch size, and inference with
  Algorithm 2's population statistics.
* :mod:`~bnreview.experiments.regularisation`: does BN let dropout go (Sec. 3.4)?
* :mod:`~bnreview.experiments.fashion`: is MNIST too easy? The review's experiment on Fashion-MNIST.
* :mod:`~bnreview.experiments.landscape`: the loss landscape along the gradient (Santurkar et al. 2018), from the
  sweep's runs replayed with a probe.
* :mod:`~bnreview.experiments.depth`: is LeNet too shallow? Sigmoid MLPs and tanh convolutional stacks of 2 to 16 layers.
* :mod:`~bnreview.experiments.tuned`: the review's comparison with each network at its own rate, chosen on validation
  (on MNIST for lenet_bn, on Fashion-MNIST for fashion).

Results come back as ``{key: [History, ...]}`` (one History per seed). The quick profile
(``BNREVIEW_QUICK=1``) shrinks every grid, seed list and run; the full settings are the
submodules' constants. Numbers computed after training (accuracy with batch statistics,
Algorithm 2's population statistics, training accuracy) are cached next to the runs, keyed on
the run and on the source of the submodule that computes them.

``VAL_SIZE`` is read from :mod:`~bnreview.experiments.common` when a config is built (:func:`common.val_size`),
so setting ``bnreview.experiments.common.VAL_SIZE`` (as the tests do) changes every config that holds images out.
"""

from bnreview.config import pick
from bnreview.experiments.common import (SEEDS, SWEEP_EVAL_EVERY, VAL_SIZE, Plan, cached_numbers, eval_accuracy,
                                         final_accuracies, grid_plan, mean_or_nan, model_from,
                                         run_grid, run_plan, run_seeds, seed_summary, seeded, seeds, sweep_config,
                                         val_size)
from bnreview.experiments.depth import (DEPTH_ACCURACY, DEPTH_EVAL_EVERY, DEPTH_LRS, DEPTH_STEPS, DEPTHS, FAMILIES,
                                        FAMILY_STEPS, DepthRuns, depth_choice, depth_config, depth_pilot_plan,
                                        depth_plan, depth_runs)
from bnreview.experiments.landscape import (LANDSCAPE_EVERY, LANDSCAPE_LRS, MEASURES, MULTIPLES, landscape,
                                            landscape_plan, landscape_runs, measure_run, probe_line)
from bnreview.experiments.fashion import (D2L_PUBLISHED, D2L_SETTINGS, FASHION, FASHION_LRS, d2l_config, d2l_plan,
                                          d2l_runs, fashion_lr_plan, fashion_lr_runs, fashion_review_plan,
                                          fashion_review_runs)
from bnreview.experiments.lr_sweep import (CONV_LAYERS, EXPLORER_PLACEMENTS, GRID_SEED, LRS, PLACEMENT_BY_KEY,
                                           PLACEMENT_LRS, PLACEMENTS, QUICK_EXPLORER_PLACEMENTS, QUICK_LRS,
                                           SWEEP_NETWORKS, Grid, Placement, compute_grid, explorer_plan,
                                           grid_settings, grid_summary, lr_sweep_plan, lr_sweep_runs, placement,
                                           placement_config, placement_configs, placement_grid, placement_plan,
                                           sweep_rows)
from bnreview.experiments.paper_mnist import (MLP_BATCH, MLP_EVAL_EVERY, MLP_INIT_STD, MLP_LR, MLP_PILOT_LRS,
                                              MLP_INIT_STDS, MLP_PILOT_STDS, MLP_PILOT_STEPS, MLP_PROBE_EVERY, MLP_STEPS, NETWORKS,
                                              PILOT_SEEDS, QUICK_MLP_STEPS, MlpRuns, chosen_plan, mlp_pilot_config, paper_mlp_config,
                                              paper_mnist_runs, pilot_plan)
from bnreview.experiments.regularisation import (REG_DROPOUT, REG_EPOCHS, REG_LR_DECAYS, REG_LRS, REG_N_TRAIN,
                                                 REG_NETWORKS, REG_VARIANTS, REG_WEIGHT_DECAYS, decay_plan, decay_runs,
                                                 l2_choice, l2_pilot_plan, l2_plan, l2_runs, reg_choice, reg_pilot_plan,
                                                 regularisation_config, regularisation_plan, regularisation_runs,
                                                 training_accuracy)
from bnreview.experiments.review import (STEP_SECONDS, StepSeconds, baseline_plan, baseline_runs, review_plan,
                                         review_runs, step_seconds, torch_bn_plan, torch_bn_runs)
from bnreview.experiments.tuned import (QUICK_TUNED_LRS, TUNED_LRS, TUNED_NETWORKS, TunedRuns, tuned_choice,
                                        tuned_config, tuned_pilot_plan, tuned_plan, tuned_runs)
from bnreview.experiments.what_bn_does import (BATCH_LR_AT_64, BATCH_N_TRAIN, BATCH_SIZES, NOISE, NOISY_LRS,
                                               QUICK_BATCH_SIZES, batch_lr, batch_size_config, batch_size_plan,
                                               batch_size_sweep, batch_stats_accuracy, inference_accuracies,
                                               inference_by_batch, noisy_bn_configs, noisy_plan, noisy_runs, population_statistics,
                                               run_test_data)
