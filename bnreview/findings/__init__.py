"""Every number, comparison and verdict the book's prose states, computed from runs, in one tested place.

Chapters call these functions, show what they return (:class:`bnreview.page.Page`) and plot; they compute nothing
themselves. Each chapter's findings is a typed result (a frozen dataclass of comparisons, spreads and claims) and holds
no sentences: the prose is written by hand around its numbers. A paragraph whose wording depends on a verdict follows a
:func:`written_for` of the verdicts it was written for, or an ``assert`` of the condition it states, so a full build
whose runs say otherwise fails, naming it. Every public name of the submodules is re-exported here, so
``from bnreview import findings as fd; fd.X`` reaches any of them.

The submodules:

- :mod:`~bnreview.findings.core`: the criteria below, one definition each, and the measures several
  chapters share (steps to an accuracy, weight growth, the pilot's choice of the MLP's learning rate).
- :mod:`~bnreview.findings.wording`: how counts, learning rates, seeds and a set of runs' setting are written.
- :mod:`~bnreview.findings.ledger`: the claims ledger (:class:`Claim`, :func:`verdict`).
- One module a chapter, each returning its typed findings: :mod:`~bnreview.findings.motivation`,
  :mod:`~bnreview.findings.algorithm`, :mod:`~bnreview.findings.review` (baseline and lenet_bn),
  :mod:`~bnreview.findings.lr_sweep` (and the explorer), :mod:`~bnreview.findings.paper_mnist`,
  :mod:`~bnreview.findings.what_bn_does`, :mod:`~bnreview.findings.landscape`, :mod:`~bnreview.findings.regularisation`,
  :mod:`~bnreview.findings.fashion`, :mod:`~bnreview.findings.depth`, :mod:`~bnreview.findings.in_browser` and
  :mod:`~bnreview.findings.conclusion`; :mod:`~bnreview.findings.tuned` (the tuned baselines) serves lenet_bn and
  fashion.

Findings are pure functions of the runs (and the numbers derived from them) they are given: they
read no cache. The criteria that :mod:`bnreview.experiments` needs too (the choice on validation,
"trains") live below both, in :mod:`bnreview.criteria`; ``experiments`` imports nothing from here.

The criteria, one definition each, used by every chapter that needs them:

- **Spread over seeds** (:func:`spread`): mean, sample standard deviation, min and max of
  one number over a setting's seeds. Every comparison is quoted with it.
- **A difference shown** (:func:`compare`): the 95% interval of the difference excludes zero
  (``scipy.stats``: paired t when both sides are the same seeds, else Welch's). A chapter's
  sentences use it uncorrected; the ledger's verdicts follow the protocol (:mod:`bnreview.protocol`)
  with Holm's correction across every test (:mod:`~bnreview.findings.ledger`).
- **A usable learning rate** (:func:`usable_lrs`, the protocol's definition): no seed diverges and
  the mean final test accuracy is within ``USABLE_MARGIN`` (1 point) of the network's best rate's;
  the usable range (:func:`largest_usable_lr`) is the largest usable rate of a grid.
- **Reaches 97%** (:func:`trains`): every seed ends at ``TRAINS_ACCURACY`` (97%) or more and none
  diverged: a column of the sweep's table, and the explorer's adjustable bar; no verdict rests on it.
- **Chosen on validation** (:func:`best_by_validation`): any "best" setting is the one with
  the highest mean accuracy on the held-out validation images; the test set only reports
  the setting chosen.
- **Time per epoch** (:func:`seconds_per_epoch`): the median over runs of each run's mean
  training time per epoch (SGD steps only; evaluations excluded), so one run slowed by
  other work on the machine does not decide it.
"""

from __future__ import annotations

from bnreview.findings.wording import (at_rates, epochs_setting, lenet_setting, listing, lr_label, mlp_setting,
                                       per_network, plural, regularisation_setting, runs_setting, seeds_label,
                                       seeds_text, sweep_setting, training_images)
from bnreview.criteria import TRAINS_ACCURACY, best_by_validation, largest_trainable_lr, pilot_choice, trains
from bnreview.findings.core import (USABLE_MARGIN, Comparison, Spread, compare, epoch_accuracy, final_accuracy,
                                    largest_usable_lr, log_steps, over_runs, percentile_drift,
                                    reaches_sooner, seconds_per_epoch, seeds_of, spread, steps_to_accuracy,
                                    train_minutes, usable_lrs, weight_growth, weight_norms)
from bnreview.findings.ledger import (VERDICTS, Claim, Judged, Test, evidence_markdown, judge, ledger_markdown,
                                      judged_of, ledger_rows, summary, verdict_counts, verdict_of,
                                      written_for)
from bnreview.findings.motivation import (MOT_LAYERS, MOT_SAMPLES, MOT_SCALES, MOT_SEED, MOT_STILL, PAPER_ICS_CLAIM,
                                          PAPER_SATURATION_CLAIM, REVIEW_ICS_CLAIM, REVIEW_SATURATION_CLAIM,
                                          SAT_SLOPE_FRACTION, LayerNumbers, MotivationFindings, distribution_test,
                                          input_spread, layer_numbers, motivation_findings, motivation_table, moves,
                                          saturation_table, saturation_threshold)
from bnreview.findings.tuned import TunedFindings, tuned_findings
from bnreview.findings.algorithm import ALG_SHAPES, ALG_TOLERANCE, AlgorithmFindings, algorithm_findings
from bnreview.findings.review import (IMPL_SAME_POINTS, LECUN_ERROR, PAPER_ACCURACY_CLAIM, REVIEW_ACCURACY,
                                      REVIEW_ACCURACY_CLAIM, REVIEW_IMPL_CLAIM, BaselineFindings, ImplementationFindings,
                                      ReviewFindings, baseline_findings, hardest_digit, implementation_findings,
                                      review_findings)
from bnreview.findings.lr_sweep import (LR_BN, LR_NORM_LAYER, LR_NORM_LRS, LR_NO_BN, LR_REVIEW, PAPER_EXPLORER_CLAIM,
                                        PAPER_LR_CLAIM, PAPER_SCALE_CLAIM, PAPER_SPEED_CLAIM, PLACEMENT_POSITIONS,
                                        REVIEW_CLAIM, SCALE_WINDOW, EffectiveLr, ExplorerFindings, LrSweepFindings,
                                        NormRow, PlacementFindings, SpeedCounts, best_lr_by_validation, effective_lr,
                                        effective_lr_findings, explorer_findings, lr_sweep_findings, placement_findings,
                                        placement_table, ratio_text, speed_counts, sweep_table, weight_scale_test)
from bnreview.findings.paper_mnist import (MLP_FASTER_ACCURACY, PAPER_MNIST_ACCURACY, PAPER_MNIST_INIT,
                                           PAPER_MNIST_STABLE, PM_EARLY, PM_LATE, PM_LAYER, PM_LENETS, PM_LENET_LAYER,
                                           PM_MEDIAN_FROM, PM_NETWORKS, PM_NORMAL_BAND, PM_REACH, REVIEW_MNIST,
                                           Figure1a, PaperMnistFindings, Reach, Steadiness, accuracy_at, band_width,
                                           drift_late, figure_1a_findings, initialisation_test, median_movement,
                                           median_steadier, paper_mnist_findings, pilot_accuracies, pilot_range,
                                           pilot_table, scale_ranges, steadiness)
from bnreview.findings.what_bn_does import (PAPER_ICS, PAPER_INFERENCE, REVIEW_ICS, REVIEW_INFERENCE, WB_LAYERS,
                                            WB_NETWORKS, WB_NORM_LAYER, BatchFindings, BatchRow, NoisyFindings,
                                            NoisyRate, WhatBnDoesFindings, batch_findings, drift_groups, noisy_findings,
                                            unit_drift, what_bn_does_findings)
from bnreview.findings.regularisation import (PAPER_DECAY_CLAIM, PAPER_DROPOUT_CLAIM, PAPER_L2_CLAIM, PAPER_REG_CLAIM,
                                              REG_NAMES, REVIEW_REG_CLAIM, DecayFindings, L2Findings,
                                              RegularisationFindings, decay_findings, l2_findings, largest_epoch_drop,
                                              regularisation_findings, regularisation_table, train_test_gaps)
from bnreview.findings.conclusion import (QUESTIONS, REVIEW_CONCLUSION, ConclusionFindings, Question, claims_of,
                                          conclusion_findings)
from bnreview.findings.fashion import CLASSES, FashionFindings, fashion_findings, network_labels, per_class
from bnreview.findings.in_browser import TRY_LR, BrowserFindings, browser_findings
from bnreview.findings.landscape import (SANTURKAR_CLAIM, LandscapeFindings, landscape_findings, landscape_table,
                                         run_means)
from bnreview.findings.depth import (CHANCE_BAR, DEPTH_FAMILIES, DepthFindings, DepthRow, Family, advantage_slopes,
                                     at_chance, censored_log_steps, depth_findings, depth_table)
