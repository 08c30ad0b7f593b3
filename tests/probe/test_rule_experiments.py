"""The real rules' experiments (``experiment`` of each class in rules/) on real torch models.

One ``torchlint --probe`` run (one sandbox server, one forked child per script)
covers every fixture folder of the rules (bad fixtures and their good twins),
the seed reconstructions, and fixtures/probe/rules (scripts where the static
finding holds but the effect is absent at run time); the tests read its JSON.
"""

from __future__ import annotations

import json
import os
import re

import pytest

try:
    import fcntl
except ImportError:  # Windows: each xdist worker runs the probe itself
    fcntl = None

from probe_support import REPO, probe, without_sandbox

RULE_FOLDERS = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "fixtures").glob("TL[1-9]*"))
RUN_PATHS = [*RULE_FOLDERS, "fixtures/seeds", "fixtures/probe/rules"]

#: Findings whose verdict is not the rule's confirmation, and why.
NOT_CONFIRMED = {
    # Models whose forward takes a 3-D batch (tokens by position, items by set): the probe
    # synthesizes a 2-D input from the first layer's width, which these forwards cannot index.
    ("fixtures/TL202/bad_steps_collected_in_list.py", 29, "TL202"): ("inconclusive", "no_inputs"),
    ("fixtures/TL204/bad_softmax_layer_dim0_on_batch.py", 13, "TL204"): ("inconclusive", "no_inputs"),
    ("fixtures/TL204/bad_softmax_layer_dim0_on_batch.py", 15, "TL204"): ("inconclusive", "no_inputs"),
    # A Sequential built at module level (outside any model class): the probe cannot tell which
    # tensor the layer normalizes.
    ("fixtures/TL204/bad_softmax_layer_dim0_on_batch.py", 45, "TL204"): ("inconclusive", "no_inputs"),
    # The new layers come from library calls (NNI's ModelSpeedup.speedup_model, Hugging Face's
    # resize_token_embeddings after tokens were added): the probe does not run those libraries.
    ("fixtures/TL504/bad_layers_rebuilt_after_factory_optimizer.py", 38, "TL504"): ("inconclusive",
                                                                                 "missing_dependency"),
    ("fixtures/TL504/bad_layers_rebuilt_after_factory_optimizer.py", 53, "TL504"): ("inconclusive",
                                                                                 "missing_dependency"),
    # `build(kind)` may make either model (the name comes from the environment at run time):
    # the probe runs each experiment on ConvNet (ending in log_softmax) and on DenseNet (ending
    # in softmax); TL201 holds on DenseNet only and TL202 on ConvNet only, so both verdicts
    # depend on the configuration the probe does not know.
    ("fixtures/TL202/bad_model_choice_log_probs_or_probs.py", 55, "TL201"): ("inconclusive", "model_choice"),
    ("fixtures/TL202/bad_model_choice_log_probs_or_probs.py", 55, "TL202"): ("inconclusive", "model_choice"),
    # `make_normalized("logits")` rebinds its argument before testing it, so the analysis keeps
    # both classes (the static finding is a "may"); the script really builds LogitsNet. The
    # probe runs both: refuted on LogitsNet, confirmed on ProbNet, so it does not say which.
    ("fixtures/TL201/bad_factory_literal_argument.py", 44, "TL201"): ("inconclusive", "model_choice"),
    # The probabilities come out of a wrapper module whose forward runs the block it is given
    # (`gate(h, nn.Sequential(self.out, self.norm))`): the probe cannot synthesize that argument.
    ("fixtures/TL201/bad_container_of_held_layers.py", 37, "TL201"): ("inconclusive", "no_inputs"),
    # einops is not installed in the probe's interpreter (it is stubbed): the einops patterns'
    # results cannot be computed; the torch.einsum case of the same file is confirmed.
    ("fixtures/TL204/bad_dim0_named_by_pattern.py", 34, "TL204"): ("inconclusive", "missing_dependency"),
    ("fixtures/TL204/bad_dim0_named_by_pattern.py", 36, "TL204"): ("inconclusive", "missing_dependency"),
    # The dataset's length comes from a file read at run time: the batch of one is the static
    # premise, the experiment's own batch of one shows the mechanism.
    ("fixtures/TL301/bad_zipped_norms_in_helper.py", 31, "TL301"): ("mechanism_only", None),
    # The totals add what a wrapper module's step method returns (it runs the model inside): the
    # probe builds no model for the loop and uses a stand-in.
    ("fixtures/TL501/bad_total_of_returned_backpropagated.py", 35, "TL501"): ("mechanism_only", None),
    ("fixtures/TL501/bad_total_of_returned_backpropagated.py", 38, "TL501"): ("mechanism_only", None),
    # The layer is built from a parameter of the enclosing function (`nn.Linear(features, 1)`);
    # the probe does not bind it from the module-level call `fit_scores(6, ...)`.
    ("fixtures/TL205/bad_criterion_chosen_by_output_width.py", 35, "TL205"): ("inconclusive", "construct_failed"),
    # A whole model unpickled with torch.load: the file builds no model the probe could run.
    ("fixtures/TL102/bad_decorated_or_stepping_elsewhere.py", 51, "TL102"): ("inconclusive", "construct_failed"),
    # The model is passed in by a caller the file does not show (a parameter, `self.net` set from
    # one): the rule reports it because the code itself sets train mode on it, but the probe has
    # no construction to build.
    ("fixtures/TL104/bad_periodic_check_on_passed_in_model.py", 19, "TL104"): ("inconclusive", "construct_failed"),
    ("fixtures/TL104/bad_periodic_check_on_passed_in_model.py", 44, "TL104"): ("inconclusive", "construct_failed"),
    # nn.Softmax() without dim on (batch, actions): PyTorch picks dim 1, which keeps samples apart
    # (the rule warns of the deprecated implicit dim; the probe rightly finds no batch mixing).
    ("fixtures/TL204/bad_nn_softmax_without_dim.py", 11, "TL204"): ("refuted", None),
    ("fixtures/TL204/bad_nn_softmax_without_dim.py", 12, "TL204"): ("refuted", None),
    # The encoder's class comes from a package that is not installed, and the 1-D vote vector
    # belongs to no model: the probe has nothing of the script's to build.
    ("fixtures/TL204/bad_dim0_unresolved_model.py", 17, "TL204"): ("inconclusive", "construct_failed"),
    ("fixtures/TL204/bad_implicit_dim_on_3d.py", 45, "TL204"): ("inconclusive", "construct_failed"),
    # An nn.Softmax bound to a module-level name and placed in a Sequential: built outside any
    # model class, so the probe cannot tell which tensor it normalizes.
    ("fixtures/TL204/bad_named_layer_in_sequential_on_3d.py", 10, "TL204"): ("inconclusive", "no_inputs"),
    # The model's base class `nn.Module` is bound only by `from parts import *` (an import alias
    # of parts.py): the probe's own source recovery does not count the class as a model yet.
    ("fixtures/TL301/project_identity_star_alias/train.py", 10, "TL301"): ("inconclusive", "construct_failed"),
    # The model's module is loaded by importlib.import_module from a folder the script adds to
    # sys.path, and built by that module's factory: the probe's source recovery finds no
    # construction of the class it can reach from the script.
    ("fixtures/TL301/project_dynamic_import/train_dynamic.py", 32, "TL301"): ("inconclusive", "construct_failed"),
    # The batch of one is not fixed by the script (an argparse default the user may override, a
    # dataset length unknown statically): the experiment's own batch of one shows the mechanism.
    ("fixtures/TL301/bad_argparse_batch.py", 26, "TL301"): ("mechanism_only", None),
    ("fixtures/TL301/bad_default_batch_size.py", 20, "TL301"): ("mechanism_only", None),
    ("fixtures/TL301/bad_identity_loaders_in_dict.py", 25, "TL301"): ("mechanism_only", None),
    ("fixtures/TL301/bad_pooled_batchnorm2d.py", 38, "TL301"): ("mechanism_only", None),
    ("fixtures/TL301/bad_pool_and_norm_same_arm.py", 40, "TL301"): ("mechanism_only", None),
    ("fixtures/TL301/bad_batchnorm_arm_built.py", 26, "TL301"): ("mechanism_only", None),
    ("fixtures/TL301/bad_pooled_gate_config_batch.py", 25, "TL301"): ("mechanism_only", None),
    ("fixtures/TL301/bad_unknown_length_flat.py", 29, "TL301"): ("mechanism_only", None),
    ("fixtures/TL301/project_loader_helper/batching.py", 26, "TL301"): ("mechanism_only", None),
    ("fixtures/TL301/bad_stage_loop_train_pass.py", 10, "TL301"): ("mechanism_only", None),
    ("fixtures/TL301/project_split_dict/folders.py", 15, "TL301"): ("mechanism_only", None),
    ("fixtures/TL301/project_split_dict/folders.py", 30, "TL301"): ("mechanism_only", None),
    ("fixtures/seeds/lstm_tv_script/train_rnn.py", 49, "TL301"): ("mechanism_only", None),
    # No model output reaches these losses: random predictions of the experiment's own (a sum grows
    # with the batch whatever the predictions are), so the ratio shows the mechanism only.
    ("fixtures/TL203/bad_divided_twice.py", 15, "TL203"): ("mechanism_only", None),
    ("fixtures/TL203/bad_halved_sum_beside_mean.py", 11, "TL203"): ("mechanism_only", None),
    ("fixtures/TL203/bad_mean_between_two_sums.py", 10, "TL203"): ("mechanism_only", None),
    ("fixtures/TL203/bad_elementwise_sum_vs_mean.py", 20, "TL203"): ("mechanism_only", None),
    ("fixtures/TL203/bad_masked_nll_unweighted_branch.py", 16, "TL203"): ("mechanism_only", None),
    ("fixtures/TL203/bad_mean_divided_by_batch.py", 10, "TL203"): ("mechanism_only", None),
    ("fixtures/TL203/bad_mean_divided_by_batch.py", 19, "TL203"): ("mechanism_only", None),
    ("fixtures/TL203/bad_mean_plus_batch_sum.py", 22, "TL203"): ("mechanism_only", None),
    ("fixtures/TL203/bad_mean_counted_by_elements.py", 27, "TL203"): ("mechanism_only", None),
    ("fixtures/TL203/bad_mean_counted_by_elements.py", 40, "TL203"): ("mechanism_only", None),
    ("fixtures/TL203/bad_sum_of_per_sample_means.py", 10, "TL203"): ("mechanism_only", None),
    ("fixtures/TL203/bad_mean_option_from_attribute.py", 18, "TL203"): ("mechanism_only", None),
    ("fixtures/TL203/bad_side_outputs_divided_twice.py", 28, "TL203"): ("mechanism_only", None),
    ("fixtures/TL203/bad_sum_divided_in_return.py", 13, "TL203"): ("mechanism_only", None),  # net is a parameter
    # CUDA generators cannot be observed without a GPU.
    ("fixtures/TL502/bad_cuda_seed_in_trainer_method.py", 15, "TL502"): ("inconclusive", "experiment_error"),
    # No model of the script reaches the loop: the experiment ran on a stand-in model of its
    # own, which shows the mechanism and says nothing about this code.
    ("fixtures/TL503/project_engine/engine.py", 11, "TL503"): ("mechanism_only", None),
    ("fixtures/probe/rules/tl501_no_model_reaches_loop.py", 14, "TL501"): ("mechanism_only", None),
    # TL303: the dataset is built from names of the script's main block (or is a random_split part),
    # which the sandbox does not run: the loader cannot be rebuilt with the user's dataset.
    ("fixtures/TL303/bad_default_shuffle_tensor_dataset.py", 19, "TL303"): ("inconclusive", "experiment_error"),
    ("fixtures/TL303/bad_random_split_part.py", 7, "TL303"): ("inconclusive", "experiment_error"),
    ("fixtures/TL303/bad_training_helper_dataset_param.py", 9, "TL303"): ("inconclusive", "experiment_error"),
    # The two networks come from a package that is not installed (`zoo_models.build_backbone`): the
    # blend of their outputs cannot be rebuilt (as bad_dim0_unresolved_model.py).
    ("fixtures/TL204/bad_dim0_blend_of_model_outputs.py", 17, "TL204"): ("inconclusive", "construct_failed"),
    ("fixtures/TL204/bad_dim0_blend_of_model_outputs.py", 19, "TL204"): ("inconclusive", "construct_failed"),
    ("fixtures/TL204/bad_dim0_blend_of_model_outputs.py", 20, "TL204"): ("inconclusive", "construct_failed"),
    # The evaluated network is a parameter defaulting to an attribute of a learner (an nn.Module
    # holding the model it trains): the probe finds no construction it can tie to that parameter.
    ("fixtures/TL102/bad_learner_module_scores_loader.py", 30, "TL102"): ("inconclusive", "construct_failed"),
    # The model normalizes its scores only in eval mode, and the loss is computed after eval(); the
    # probe runs the model as built (train mode), where it returns logits.
    ("fixtures/TL201/bad_probs_in_eval_or_train_arm.py", 34, "TL201"): ("refuted", None),
    # The clip sits in a helper that runs the backward for its caller; the parameters it clips are
    # its own parameter (whatever the caller passes), so the probe finds no model construction.
    ("fixtures/TL506/bad_clip_before_backward_in_helper.py", 15, "TL506"): ("inconclusive", "construct_failed"),
    ("fixtures/TL506/bad_clip_before_backward_in_helper.py", 21, "TL506"): ("inconclusive", "construct_failed"),
    # The model is built in another file of the project (a top-level nn.Sequential, a trainer
    # class given its model by a caller, a star import): the probe finds no construction it
    # can run for this script and says so rather than build another model.
    ("fixtures/TL101/project_crossfile_star_import/scoring.py", 11, "TL101"): ("inconclusive", "construct_failed"),
    ("fixtures/TL101/project_crossfile_trainer_class/trainer.py", 27, "TL101"): ("inconclusive", "construct_failed"),
    ("fixtures/TL101/project_imported_global_model/score_holdout.py", 11, "TL101"): ("inconclusive", "construct_failed"),
    ("fixtures/TL101/project_scoring_in_class_namespace/panel.py", 9, "TL101"): ("inconclusive", "construct_failed"),
    ("fixtures/TL102/project_crossfile_module_attr/inspection.py", 11, "TL102"): ("inconclusive", "construct_failed"),
    # The scores reach the loss helper from loop.py's call of an alias of it.
    ("fixtures/TL201/project_crossfile_alias_helper/steps.py", 4, "TL201"): ("inconclusive", "construct_failed"),
    # The model reaches the epoch function from launch.py, which the probe of epoch.py does not see.
    ("fixtures/TL201/project_namespace_model_criterion/jobs/epoch.py", 12, "TL201"):
        ("inconclusive", "construct_failed"),
    # A Python 2 script: linted with its print statements skipped, but it cannot be loaded to run.
    ("fixtures/TL202/bad_python2_script_recovered.py", 23, "TL202"): ("inconclusive", "load_failed"),
    # fixtures/probe/rules: the effect is absent at run time.
    ("fixtures/probe/rules/tl101_dropout_branch_off.py", 22, "TL101"): ("not_exercised", None),
    ("fixtures/probe/rules/tl101_dropout_off_by_default.py", 22, "TL101"): ("refuted", None),
    ("fixtures/probe/rules/tl102_frozen_model.py", 19, "TL102"): ("refuted", None),
    ("fixtures/probe/rules/tl103_dropout_rate_zero.py", 16, "TL103"): ("refuted", None),
    ("fixtures/probe/rules/tl103_two_calls_one_off.py", 20, "TL103"): ("refuted", None),
    ("fixtures/probe/rules/tl301_batchnorm_over_time.py", 24, "TL301"): ("refuted", None),
    ("fixtures/probe/rules/tl501_frozen_model.py", 20, "TL102"): ("refuted", None),
    ("fixtures/probe/rules/tl501_frozen_model.py", 21, "TL501"): ("refuted", None),
    # TL101/TL102 on models known only by use (`net.train()`, `net.parameters()`) or by name: the class
    # is not in the script (a hub model, a parameter no caller in the file binds), so nothing can be built.
    ("fixtures/TL101/bad_model_known_by_use.py", 10, "TL101"): ("inconclusive", "construct_failed"),
    ("fixtures/TL101/bad_model_known_by_use.py", 10, "TL102"): ("inconclusive", "construct_failed"),
    ("fixtures/TL102/bad_model_param_by_name.py", 10, "TL102"): ("inconclusive", "construct_failed"),
    ("fixtures/TL102/bad_model_param_by_name.py", 20, "TL102"): ("inconclusive", "construct_failed"),
}


def _numpy_runs() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


# The script reseeds numpy's generator: where numpy is missing, the experiment says so.
if not _numpy_runs():
    NOT_CONFIRMED[("fixtures/TL502/bad_numpy_and_random_in_step_loop.py", 18, "TL502")] = \
        ("inconclusive", "missing_dependency")


def _torchvision_runs() -> bool:
    """torchvision imports beside this torch (the probe runs in this interpreter)."""
    try:
        import torchvision.transforms  # noqa: F401
    except Exception:  # noqa: BLE001 - absent, or built for another torch
        return False
    return True


# TL302 applies the dataset's transform (or its random transforms) to one image several
# times. Without torchvision the transform cannot be built: the experiment says so rather
# than guess. With it, each bad fixture is confirmed, except the alias RandomSizedCrop,
# which current torchvision no longer has (the transform cannot be built there either).
_TL302_BAD = [
    ("fixtures/TL302/bad_project_dataset_transform_param.py", 21, "TL302"),
    ("fixtures/TL302/bad_shared_transform_for_test_set.py", 12, "TL302"),
    ("fixtures/TL302/bad_v2_dict_of_pipelines.py", 11, "TL302"),
    ("fixtures/TL302/bad_pipeline_list_built_by_append.py", 15, "TL302"),
    ("fixtures/TL302/bad_eval_pass_in_class_namespace.py", 33, "TL302"),
    ("fixtures/TL302/bad_probability_always_on.py", 17, "TL302"),
    ("fixtures/TL302/bad_generator_over_test_loader.py", 10, "TL302"),
    ("fixtures/TL302/bad_legacy_sized_crop_alias.py", 11, "TL302"),
    ("fixtures/TL302/bad_held_out_sampler_over_augmented_set.py", 9, "TL302"),
    ("fixtures/TL302/bad_transform_through_dataset_factory.py", 27, "TL302"),
    ("fixtures/TL302/bad_pipeline_function_called_for_validation.py", 16, "TL302"),
    ("fixtures/TL302/project_transforms_module/evaluate.py", 10, "TL302"),
    ("fixtures/TL302/project_shared_pass_flagged_off/feeds.py", 13, "TL302"),
]
# The model is a torchvision builder (DeepLabV3) called in the script: built from that call where
# torchvision imports (its pooled BatchNorm then shows the effect on the experiment's own batch of
# one: the batch size is not known statically), else the missing library is named.
_TORCHVISION_MODEL = ("fixtures/TL301/bad_torchvision_pooled_from_helper.py", 16, "TL301")
if _torchvision_runs():
    NOT_CONFIRMED[("fixtures/TL302/bad_legacy_sized_crop_alias.py", 11, "TL302")] = ("inconclusive", "experiment_error")
    NOT_CONFIRMED[_TORCHVISION_MODEL] = ("mechanism_only", None)
else:
    NOT_CONFIRMED.update({key: ("inconclusive", "missing_dependency") for key in [*_TL302_BAD, _TORCHVISION_MODEL]})

#: The seeds' findings: every one is confirmed.
SEEDS = [
    ("fixtures/seeds/cosmic_bimodal/model.py", 16, "TL203"),
    ("fixtures/seeds/cosmic_bimodal/train_meld.py", 22, "TL101"),
    ("fixtures/seeds/cosmic_bimodal/train_meld.py", 22, "TL102"),
    ("fixtures/seeds/lstm_tv_script/train_rnn.py", 21, "TL401"),
    ("fixtures/seeds/lstm_tv_script/train_rnn.py", 49, "TL301"),
    ("fixtures/seeds/lstm_tv_script/train_rnn.py", 69, "TL101"),
]

#: One bad fixture per rule (and the seeds), with the exact evidence line.
SUMMARIES = {
    ("fixtures/TL101/bad_validate_function.py", 24, "TL101"):
        "train vs eval max |diff| 1.2 on outputs of scale 0.216; eval vs eval 0; "
        "ran: bn1 (BatchNorm1d), drop (Dropout)",
    ("fixtures/TL102/bad_evaluate_function.py", 22, "TL102"):
        "eval output requires grad (AddmmBackward0); autograd saved 10 activation tensors (185 KiB for "
        "a batch of 4) for a backward pass that never comes; under torch.no_grad: 0",
    ("fixtures/TL103/bad_forward_default.py", 16, "TL103"):
        "two eval-mode passes differ by up to 0.678 on outputs of scale 0.263; with "
        "training=self.training: 0",
    ("fixtures/TL201/bad_forward_returns_softmax.py", 31, "TL201"):
        "outputs are probabilities (min 0.0692, rows sum to 1 within 1e-6); CrossEntropyLoss gradient "
        "norm 0.511 with softmax vs 4.58 on logits (loss 2.29 vs 2.25)",
    ("fixtures/TL202/bad_functional_log_softmax.py", 12, "TL202"):
        "outputs are log-probabilities (|logsumexp| < 1e-6); CrossEntropyLoss 1.48 equals NLLLoss 1.48 "
        "on them (|diff| < 1e-6)",
    ("fixtures/TL203/bad_divided_in_train_not_in_validation.py", 22, "TL203"):
        "loss ratio 4.0 between batch 16 and batch 4 tiled x4 (19.7 vs 4.93); with reduction='mean' "
        "the ratio is 1.0",
    ("fixtures/TL204/bad_dim0_on_model_output.py", 19, "TL204"):
        "softmax over dim 0 of the model's output mixes the batch: changing sample 1 changes sample 0's "
        "probabilities by up to 0.0217 while its logits stay the same",
    ("fixtures/TL301/bad_remainder_one.py", 21, "TL301"):  # the effect shown, the premise given apart
        "effect shown: a batch of one raises ValueError: Expected more than 1 value per channel when "
        "training, got input size torch.Size([1, 32]); that a batch of one occurs is the static premise "
        "(the last batch of every epoch holds one sample: len(dataset) 41 % batch_size 4 == 1)",
    ("fixtures/TL401/bad_seed_rnn_discarded.py", 14, "TL401"):
        "embedding weight differs from the pretrained matrix by up to 10.8 (embd)",
    ("fixtures/TL501/bad_running_total_tensor.py", 15, "TL501"):
        "after 6 steps the running total keeps 32 autograd nodes alive, 5 more nodes per step; "
        "with .item(): 0 nodes",
    ("fixtures/TL502/bad_manual_seed_in_epoch_loop.py", 16, "TL502"):
        "after torch.manual_seed(SEED), step 2 drew the same dropout masks as step 1; without it the "
        "draws differ",
    ("fixtures/TL503/bad_zero_grad_before_loop.py", 15, "TL503"):
        "after two backward passes without zero_grad and SGD.step(), .grad is 2.00x one pass's (norm "
        "2.07 vs 1.03)",
    # More than one per rule where the experiment takes another path.
    ("fixtures/TL103/bad_direct_import.py", 18, "TL103"):  # 14x14 images: the spatial size searched
        "two eval-mode passes differ by up to 0.702 on outputs of scale 0.223; with "
        "training=self.training: 0",
    ("fixtures/TL103/project_models/models/heads.py", 15, "TL103"):  # loaded as models.heads
        "two eval-mode passes differ by up to 1.07 on outputs of scale 0.506; with "
        "training=self.training: 0",
    ("fixtures/TL201/bad_trainer_tensor_method.py", 26, "TL201"):  # EmbeddingBag(input, offsets)
        "outputs are probabilities (min 0.111, rows sum to 1 within 1e-6); CrossEntropyLoss gradient "
        "norm 0.181 with softmax vs 1.02 on logits (loss 1.64 vs 1.78)",
    ("fixtures/TL201/bad_nll_on_probabilities.py", 23, "TL201"):
        "outputs are probabilities (min 0.0574, rows sum to 1 within 1e-6); NLLLoss gradient norm 0.491 "
        "on probabilities vs 5.37 CrossEntropyLoss on logits (loss -0.0896 vs 2.43)",
    ("fixtures/TL202/bad_tensor_method_label_smoothing.py", 16, "TL202"):
        "outputs are log-probabilities (|logsumexp| < 1e-6); CrossEntropyLoss(label_smoothing=0.1) 1.89 "
        "equals the smoothed NLLLoss 1.89 on them (|diff| < 1e-6)",
    ("fixtures/TL204/bad_nn_softmax_without_dim.py", 11, "TL204"):
        "softmax over dim 1 (PyTorch's implicit choice for 2-D input) of layer softmax keeps samples "
        "apart: changing sample 1 changes sample 0's probabilities by 0",
    ("fixtures/TL301/bad_argparse_batch.py", 26, "TL301"):
        "on stand-ins (batch of one), not the script's: effect shown: with a batch of one, bn "
        "normalized the sample by its own statistics: every "
        "channel's mean output equals the layer's bias (|diff| < 1e-4; up to 0.0738 with a batch of 4); "
        "that a batch of one occurs is the static premise (`batch_size` is 1 (default of "
        "args.batch_size): every batch holds one sample)",
    ("fixtures/TL401/bad_full_path_in_main.py", 21, "TL401"):
        "embedding weight differs from the pretrained matrix by up to 10.8 (word_embeddings); the layer "
        "from_pretrained returned (and the script drops) holds it (max |diff| 0)",
    ("fixtures/TL503/project_engine/engine.py", 11, "TL503"):
        "on stand-ins (model, optimizer), not the script's: after two backward passes without "
        "zero_grad, .grad is 2.00x one pass's (norm 3.04 vs 1.52)",
    ("fixtures/probe/rules/tl501_no_model_reaches_loop.py", 14, "TL501"):
        "on stand-ins (model), not the script's: after 6 steps the running total keeps 32 autograd "
        "nodes alive, 5 more nodes per step; with .item(): 0 nodes",
    ("fixtures/seeds/cosmic_bimodal/model.py", 16, "TL203"):  # on the model's own output
        "loss ratio 4.0 between batch 16 and batch 4 tiled x4 (189 vs 47.1); with reduction='mean' "
        "the ratio is 1.0",
    ("fixtures/seeds/cosmic_bimodal/train_meld.py", 22, "TL101"):
        "train vs eval max |diff| 0.648 on outputs of scale 1.95; eval vs eval 0; ran: norm3a "
        "(BatchNorm1d), dropout (Dropout), cell.dropout (Dropout)",
    ("fixtures/seeds/cosmic_bimodal/train_meld.py", 22, "TL102"):
        "eval output requires grad (LogSoftmaxBackward0); autograd saved 119 activation tensors (644 KiB "
        "for a batch of 4) for a backward pass that never comes; under torch.no_grad: 0",
    ("fixtures/seeds/lstm_tv_script/train_rnn.py", 21, "TL401"):
        "embedding weight differs from the pretrained matrix by up to 17 (embd)",
    ("fixtures/seeds/lstm_tv_script/train_rnn.py", 49, "TL301"):
        "on stand-ins (batch of one), not the script's: effect shown: a batch of one raises ValueError: Expected more than 1 value per channel when "
        "training, got input size torch.Size([1, 256]); that a batch of one occurs is the static premise "
        "(the dataset length is not known statically, so the last batch (len(dataset) % 128) can hold "
        "one sample, and the model has BatchNorm layers that see one value per channel and sample "
        "(BatchNorm1d on (batch, features), BatchNorm2d on 1x1 pooled maps))",
    ("fixtures/seeds/lstm_tv_script/train_rnn.py", 69, "TL101"):
        "train vs eval max |diff| 2.1 on outputs of scale 0.0531; eval vs eval 0; ran: lstm (LSTM), "
        "dropout (Dropout), bn (BatchNorm1d)",
    ("fixtures/probe/rules/tl101_dropout_branch_off.py", 22, "TL101"):
        "train vs eval max |diff| 0 on outputs of scale 0.622; eval vs eval 0; the mode-dependent "
        "layers never ran: dropout (Dropout)",
    ("fixtures/probe/rules/tl101_dropout_off_by_default.py", 22, "TL101"):
        "train vs eval max |diff| 0 on outputs of scale 0.117; eval vs eval 0; no mode-dependent layer ran",
    ("fixtures/probe/rules/tl102_frozen_model.py", 19, "TL102"):
        "the eval-mode output does not require grad (no parameter trains): autograd saved 0 tensors for "
        "backward",
    ("fixtures/probe/rules/tl301_batchnorm_over_time.py", 24, "TL301"):
        "a batch of one ran through BatchNorm without error and without collapsing to its bias "
        "(max |mean - bias| 2.15)",
    ("fixtures/probe/rules/tl103_dropout_rate_zero.py", 16, "TL103"):
        "two eval-mode passes agree (max |diff| 0): 0 of 2 calls at line 16 dropped with training on",
    # One verdict per call: the p=0.0 call of a model with another (real) functional dropout.
    ("fixtures/probe/rules/tl103_two_calls_one_off.py", 19, "TL103"):
        "two eval-mode passes differ by up to 0.417 on outputs of scale 0.285; with "
        "training=self.training: 0",
    ("fixtures/probe/rules/tl103_two_calls_one_off.py", 20, "TL103"):
        "two eval-mode passes agree (max |diff| 0): 0 of 2 calls at line 20 dropped with training on",
    ("fixtures/probe/rules/tl501_frozen_model.py", 21, "TL501"):
        "after 6 steps the running total keeps 0 autograd nodes alive, 0 more nodes per step; with "
        ".item(): 0 nodes: the graph does not grow",
}


EXPECT_RE = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)")  # as tests/test_rules.py reads them


def _expected_findings() -> set[tuple[str, int, str]]:
    """Every `# expect: CODE` marker of the probed files: what the static rules report."""
    found = set()
    for root in RUN_PATHS:
        for path in sorted((REPO / root).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                match = EXPECT_RE.search(line)
                for code in (match.group(1).replace(" ", "").split(",") if match else []):
                    if code and code not in UNPROBED:
                        found.add((path.relative_to(REPO).as_posix(), number, code))
    return found


#: Findings of no experiment: a file that does not parse (linted as recovered).
UNPROBED = frozenset({"TL001"})


EXPECTED = _expected_findings()


def _run_once(tmp_path_factory, probe_tmp) -> dict:
    """The probe run as {exit_code, stdout, stderr}. Under pytest-xdist the workers
    share it (the first one runs it, the others wait for its result), so the suite
    pays for it once whichever workers the tests land on."""
    def run() -> dict:
        done = probe(*RUN_PATHS, tmpdir=probe_tmp / "rules", plugins=False)
        return {"exit_code": done.exit_code, "stdout": done.stdout, "stderr": done.stderr}

    if not os.environ.get("PYTEST_XDIST_WORKER") or fcntl is None:
        return run()
    shared = tmp_path_factory.getbasetemp().parent  # the same folder for every worker of the session
    result = shared / "rule_experiments.json"
    with open(shared / "rule_experiments.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result.exists():
            result.write_text(json.dumps(run()))
    return json.loads(result.read_text())


@pytest.fixture(scope="module")
def rules_run(fixtures_before, probe_tmp, tmp_path_factory) -> dict[tuple[str, int, str], dict]:
    done = _run_once(tmp_path_factory, probe_tmp)
    assert done["exit_code"] == 1, done["stderr"]
    assert done["stderr"] == ""
    return {(f["path"], f["line"], f["code"]): f for f in json.loads(done["stdout"]) if f["code"] not in UNPROBED}


def _verdict(key: tuple[str, int, str]) -> tuple[str, str | None]:
    if key in NOT_CONFIRMED:
        return NOT_CONFIRMED[key]
    return ("confirmed_redundant" if key[2] == "TL202" else "confirmed"), None


def test_the_run_probes_every_expected_finding_and_nothing_else(rules_run):
    assert set(rules_run) == EXPECTED
    assert all(rules_run[key]["probe"] is not None for key in rules_run)
    assert set(NOT_CONFIRMED) <= EXPECTED and set(SUMMARIES) <= EXPECTED and set(SEEDS) <= EXPECTED


def test_every_rule_is_confirmed_on_a_bad_fixture(rules_run):
    confirmed = {code for (path, _, code), finding in rules_run.items()
                 if "/bad_" in path and finding["probe"]["verdict"] in ("confirmed", "confirmed_redundant")}
    # TL302 builds the script's torchvision transforms: confirmed where torchvision imports
    assert confirmed == {"TL101", "TL102", "TL103", "TL201", "TL202", "TL203", "TL204", "TL301",
                         "TL104", "TL401", "TL501", "TL502", "TL503", "TL505",
                         "TL205", "TL303", "TL504", "TL506"} | ({"TL302"} if _torchvision_runs() else set())


@pytest.mark.parametrize("key", sorted(EXPECTED), ids=lambda key: f"{key[0]}:{key[1]}:{key[2]}")
def test_verdict_and_numbers(rules_run, key):
    result = rules_run[key]["probe"]
    verdict, reason = _verdict(key)
    assert (result["verdict"], result.get("reason")) == (verdict, reason), result["evidence"]
    evidence = result["evidence"]
    assert evidence["summary"]
    if verdict != "inconclusive":  # a conclusion always carries its measurements
        numbers = [value for name, value in evidence.items() if name != "summary"
                   and isinstance(value, (int, float)) and not isinstance(value, bool)]
        assert numbers, evidence
        assert any(character.isdigit() for character in evidence["summary"]), evidence


@pytest.mark.parametrize("key", sorted(SUMMARIES), ids=lambda key: f"{key[0]}:{key[1]}:{key[2]}")
def test_evidence_line(rules_run, key):
    assert rules_run[key]["probe"]["evidence"]["summary"] == SUMMARIES[key]


def test_seeds_are_confirmed(rules_run):
    assert sorted(key for key in rules_run if key[0].startswith("fixtures/seeds/")) == SEEDS
    assert {rules_run[key]["probe"]["verdict"] for key in SEEDS if key not in NOT_CONFIRMED} == {"confirmed"}


def test_good_twins_get_no_finding(rules_run):
    good = [key for key in rules_run if "/good_" in key[0]]
    assert good == []
    assert any((REPO / folder).glob("good_*.py") for folder in RULE_FOLDERS)


def test_what_each_experiment_assumed(rules_run):
    def assumptions(key):
        return without_sandbox(rules_run[key]["probe"])["assumptions"]

    # A torch layer built in the script is evaluated from its source, fed through nn.Sequential.
    # TL503 steps the script's own optimizer, built from its construction with the model bound.
    assert assumptions(("fixtures/TL503/bad_zero_grad_before_loop.py", 15, "TL503")) == {
        "constructor": "nn.Linear(10, 3)", "inputs": {"input": "float32[4,10]"},
        "loss": "the mean square of the model's output (accumulation in .grad does not depend on the "
                "loss's form)",
        "optimizer": "torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)"}
    # Its arguments name what exists only at run time (lr=lr): the script's class, its defaults.
    assert assumptions(("fixtures/TL503/bad_trainer_never_zeroes.py", 18, "TL503"))["optimizer"] == (
        "torch.optim.AdamW(model.parameters()): the script's class with its defaults "
        "(torch.optim.AdamW(model.parameters(), lr=lr) names values known only at run time)")
    # TL301 says what it showed and what it took from the static facts.
    premise = rules_run[("fixtures/TL301/bad_remainder_one.py", 21, "TL301")]["probe"]["evidence"]
    assert premise["premise"] == ("a batch of one: from the static facts (the last batch of every epoch "
                                  "holds one sample: len(dataset) 41 % batch_size 4 == 1), not run")
    # No model reaches the loop of engine.py (it is a parameter): a stand-in, said so.
    assert assumptions(("fixtures/TL503/project_engine/engine.py", 11, "TL503"))["model"] == \
        "a stand-in nn.Linear(8, 4): no model of the script reaches this loop"
    # The pretrained matrix goes through the constructor argument the rule named (a numpy array,
    # as the script loads it, where numpy is installed).
    assert assumptions(("fixtures/TL401/bad_seed_rnn_discarded.py", 14, "TL401"))["overrides"] == \
        {"pretrained_embedding": "array[50,8]" if _numpy_runs() else "tensor[50,8]"}
    # The script's own seeding call, with its module constant.
    assert assumptions(("fixtures/TL502/bad_manual_seed_in_epoch_loop.py", 16, "TL502"))["seeding"] == \
        "torch.manual_seed(SEED)"
    # The softmax the script applies outside the model is applied to the model's output.
    assert assumptions(("fixtures/TL201/bad_softmax_at_loss_call.py", 25, "TL201"))["softmax"] == \
        "applied to the model's output over dim 1, as the script does"
    # The user's loss construction, evaluated in the script (size_average=False included).
    assert assumptions(("fixtures/TL203/bad_trainer_size_average_false.py", 24, "TL203"))["loss"] == \
        "nn.CrossEntropyLoss(size_average=False)"
    # No candidate spatial size fits MnistNet: the size whose features match its Linear is searched.
    mnist = assumptions(("fixtures/TL103/bad_direct_import.py", 16, "TL103"))
    assert mnist["inputs"] == {"x": "float32[4,1,14,14]"}
    assert mnist["spatial_size"] == ("14: none of 32, 28, 64, 224, 16, 96, 128, 8, 256, 299 ran; the "
                                     "smallest size whose features match fc (in_features 200)")
    # EmbeddingBag called with offsets: bags packed into 1-D ids, 1-D int64 offsets.
    assert assumptions(("fixtures/TL201/bad_trainer_tensor_method.py", 26, "TL201"))["inputs"] == {
        "tokens": "int64[24] in [0, 100): 4 bags of 6", "offsets": "offsets[4] = 0, 6, 12, ..."}
    # A package module probed alone is built the way the sibling script builds it (through the
    # package's star re-export).
    assert assumptions(("fixtures/TL103/project_models/models/heads.py", 15, "TL103"))["construction"] == \
        "fixtures/TL103/project_models/predict.py:7"
    # The bimodal CommonsenseGRU-like model is driven by the hint next to it.
    cosmic = assumptions(("fixtures/seeds/cosmic_bimodal/train_meld.py", 22, "TL101"))
    assert cosmic["hint"] == ("fixtures/seeds/cosmic_bimodal/pyproject.toml "
                              "[tool.torchlint.probe.classes.CommonsenseGRUModel_bimodal]")
    assert cosmic["inputs"] == {"r1": "float32[6,4,1024]", "audio": "float32[6,4,384]",
                                "qmask": "ones[6,4,2]", "umask": "ones[4,6]"}
