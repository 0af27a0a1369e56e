"""The sentence of its source that each claim tests, verbatim, and who wrote it.

Keyed by claim id, or by an id's prefix ending in "." (the longest match wins), so a claim whose id
is built from arm names still finds its sentence. ``said_by``: "asker" (the question's or the blog
post's author), "answer" (an answer in the thread), "literature" (a paper; the text is then a
paraphrase and says so). Quotes were checked with ``grep -F`` against ``shared/seeds/``: the
seed files break some numbers across lines ("0." / "91"), and a quote ends where the line does.
No TensorFlow here: :func:`lib.claims.judge` reads this table.
"""

from __future__ import annotations

QUOTES: dict[str, tuple[str, str]] = {
    # seed 000: license plates (the asker's four hypotheses and his reading of the results)
    "plates.H1": ("So, H1 seems to be correct.", "asker"),
    "plates.H2": ("But H2, H3 and H4 seem to wrong.", "asker"),
    "plates.H3": ("But H2, H3 and H4 seem to wrong.", "asker"),
    "plates.H4": ("But H2, H3 and H4 seem to wrong.", "asker"),
    "plates.answer.finetune": ("Now changing efnB0_model.trainable = False to True would allow the pre-trained network "
                               "to update and to be more relevant to your problem.", "answer"),
    "plates.answer.two_stage": ("(paraphrase) train the new head on the frozen base first, then unfreeze at a low rate "
                                "(the keras.io transfer-learning guide; not in seed 000)", "literature"),
    "plates.pitfall.div255": ("(paraphrase) keras' EfficientNet expects raw 0-255 pixels and normalises inside the "
                              "model, so dividing by 255 first breaks it (Keras docs; not in seed 000)", "literature"),
    "plates.noise_too_strong.": ("It seems to be the case, that image augmentation was too strong.", "asker"),
    # seed 001: traffic signs, the classifier study and the detector
    "seed001.scratch.beats.": ("In my experience learning from scratch leads to better results, but it is much costly "
                               "than the others especially regarding time and resources consumption.", "answer"),
    "seed001.finetune.no_better_than.": ("It seems, that transfer learning or fine tuning on these detectors doesn't have "
                                         "any advantage at all.", "asker"),
    "seed001.frozen.no_better_than.": ("It seems, that transfer learning or fine tuning on these detectors doesn't have "
                                       "any advantage at all.", "asker"),
    "seed001.freeze_first:2.no_better_than.": ("It seems, that transfer learning or fine tuning on these detectors "
                                               "doesn't have any advantage at all.", "asker"),
    "seed001.transfer.no_advantage.": ("It seems, that transfer learning or fine tuning on these detectors doesn't have "
                                       "any advantage at all.", "asker"),
    "seed001.scratch.faster.": ("Belgium with random weights from scratch is converging fastest (after only 40 epochs/2 "
                                "days my custom SSD loss function is down to a value of 3)", "asker"),
    "seed001.freezing.no_speedup": ("I thought that it should speed up learning, as most layers aren't trainable and "
                                    "therefore no calculation is done", "asker"),
    # the COCO-pretrained start against Belgium from scratch: the asker's finding, not his question
    "seed001.source.no_better_than.scratch": ("while all other variations need much more time, more epochs and loss is "
                                              "never falling below a value of 9.", "asker"),
    "sign_detector.seed.model_zoo_no_gain": ("while all other variations need much more time, more epochs and loss is "
                                             "never falling below a value of 9.", "asker"),
    "sign_detector.seed.scratch_fastest": ("Belgium with random weights from scratch is converging fastest (after only "
                                           "40 epochs/2 days my custom SSD loss function is down to a value of 3)",
                                           "asker"),
    "sign_detector.seed.sign_weights_worst": ("this detector was the worst performing so far (loss stagnated at 11, even "
                                              "when learning rate is changed and after 100 epochs it overfitted)",
                                              "asker"),
    "sign_detector.seed.transfer_no_advantage": ("It seems, that transfer learning or fine tuning on these detectors "
                                                 "doesn't have any advantage at all.", "asker"),
    "sign_detector.seed.freezing_no_speedup": ("I thought that it should speed up learning, as most layers aren't "
                                               "trainable and therefore no calculation is done", "asker"),
    "sign_detector.literature.compute_matched": ("(paraphrase) He et al. 2019: from random initialisation, detectors "
                                                 "match pre-trained ones when trained long enough; pre-training mainly "
                                                 "speeds up early convergence", "literature"),
    # seed 002: the small-data blog post
    "seed002.simple_cnn:scratch.learns": ("that’s about the same results I’ve got with my simple CNN", "asker"),
    # the seed file starts after the frozen experiment; "still" says it was stuck too
    "seed002.vgg16:frozen.stuck": ("And still, loss is plateaued at some point and accuracy is stuck.", "asker"),
    "seed002.vgg16:scratch.stuck": ("And still, loss is plateaued at some point and accuracy is stuck.", "asker"),
    "seed002.vgg16:freeze_first:2.no_better_than.": ("Well, that did not improve things.", "asker"),
    "seed002.simple_cnn:scratch.beats.": ("that’s about the same results I’ve got with my simple CNN and way better "
                                          "than the VGG.", "asker"),
    "seed002.resnet50:frozen.overfits": ("I’m probably highly over fitted to my training set.", "asker"),
    "seed002.resnet50:finetune.beats.": ("At some point after ~21 epochs validation loss dropped and accuracy jumped as "
                                         "high as 0.", "asker"),
    "seed002.inceptionv3:cut:mixed5.beats.": ("That’s a great improvement, it’s seems that the Inception architecture "
                                              "best fit my task so far", "asker"),
    # said of the cut against both whole-network runs (frozen and every layer trained, ~0.7 each)
    "seed002.inceptionv3:finetune.no_better_than.": ("That’s a great improvement, it’s seems that the Inception "
                                                     "architecture best fit my task so far", "asker"),
    "seed002.inceptionv3:cut_unfreeze:": ("Validation accuracy is the highest so far ~0.", "asker"),
    "seed002.vgg16:frozen.no_better_than.vgg16:frozen+train:": ("I don’t think that my data is too small (1) since in "
                                                                "this architecture there aren’t much more trainable "
                                                                "parameters than in my simple CNN.", "asker"),
    "seed002.inceptionv3:frozen+resize:75~source.beats.vgg16:frozen~source": (
        "so it’s not the size (1), it’s not the similarity (2), it must be the architecture (3).", "asker"),
    "seed002.onet:frozen~mtcnn.no_better_than.": ("so it’s not the size (1), it’s not the similarity (2), it must be "
                                                  "the architecture (3).", "asker"),
    "seed002.cut_search.agrees": ("After some trials I found that using “mixed_5”", "asker"),
    # seed 003: D1 -> D2
    "d1_d2.author.no_help": ("most of the learning that led to the 90% accuracy was only because of the additional "
                             "layers, not the layers that were transferred from the model trained on the D1 dataset",
                             "asker"),
    "d1_d2.answer.faster": ("The training for the new purpose is faster (fewer epochs required) than if done from "
                            "scratch with a brand new network.", "answer"),
    # the literature
    "literature.lr_find.within_3x": (
        "(paraphrase) Smith 2017 (cyclical learning rates), fastai's lr_find: the learning-rate range test suggests "
        "a good rate, here read as within a factor of 3 of the rate a validation grid chooses", "literature"),
    "literature.yosinski.anb_plus": ("(paraphrase) Yosinski et al. 2014: transferred-then-fine-tuned networks (AnB+) "
                                     "beat the network trained on B alone at every depth", "literature"),
    "literature.yosinski.anb_drop": ("(paraphrase) Yosinski et al. 2014: frozen transferred features (AnB) lose accuracy "
                                     "as more, higher layers are copied and frozen", "literature"),
    "literature.logme.ranks": ("(paraphrase) You et al. 2021: LogME on frozen features ranks models in line with their "
                               "fine-tuned accuracy", "literature"),
    "literature.logme.ranks_frozen": ("(paraphrase) You et al. 2021 score frozen features: LogME should rank the cuts in "
                                      "line with what those features give when kept frozen under a trained head",
                                      "literature"),
    "literature.logme.ranks_probe": ("(paraphrase) thuml/LogME #19 asks whether LogME predicts linear-probe or fine-tuning "
                                     "accuracy; LogME is the evidence of a linear model on the frozen features, so it "
                                     "should rank the cuts as a linear probe does", "literature"),
}


# The fine-tuning methods' claims (issue 29), by method, whatever the study, architecture or argument:
# "literature.<arm>.beats.<other>" quotes the method of <arm>; "literature.<other>.no_better_than.<arm>"
# (LoRA reaches fine-tuning) quotes the method of <arm>.
METHOD_QUOTES = {
    "discriminative": "(paraphrase) Howard & Ruder 2018 (ULMFiT): discriminative fine-tuning, earlier layers at smaller "
                      "rates, beats fine-tuning every layer at one rate",
    "l2sp": "(paraphrase) Li et al. 2018: L2-SP, a penalty toward the pre-trained weights, beats plain fine-tuning when "
            "target data are scarce",
    "bss": "(paraphrase) Chen et al. 2019: batch spectral shrinkage, penalising the smallest singular values of the "
           "features, beats plain fine-tuning when target data are scarce",
    "lora": "(paraphrase) Hu et al. 2021: LoRA reaches full fine-tuning's accuracy while training a small fraction of "
            "the parameters",
    "one_cycle": "(paraphrase) Smith & Topin 2019; fastai's fit_one_cycle: the one-cycle schedule (the rate warmed up, "
                 "then annealed) trains to a better accuracy than a constant rate in the same number of epochs",
}


def method_of(arm: str) -> str | None:
    """The fine-tuning method of :data:`METHOD_QUOTES` an arm name uses (its policy, or a one-cycle
    schedule), e.g. ``simple_cnn:l2sp:0.01`` and ``l2sp:0.01`` -> ``l2sp``."""
    if "+one_cycle" in arm:
        return "one_cycle"
    return next((m for m in arm.split("+")[0].split(":") if m in METHOD_QUOTES), None)


def quote_for(claim_id: str) -> tuple[str, str]:
    """``(quote, said_by)`` of a claim id: its own entry, else the longest prefix entry ending in
    "."  or ":" that the id starts with, else a fine-tuning method's (:data:`METHOD_QUOTES`), else
    ``("", "")``."""
    if claim_id in QUOTES:
        return QUOTES[claim_id]
    prefixes = [k for k in QUOTES if k[-1] in ".:" and claim_id.startswith(k)]
    if prefixes:
        return QUOTES[max(prefixes, key=len)]
    if claim_id.startswith("literature."):
        rest = claim_id[len("literature."):]
        for kind in (".beats.", ".no_better_than."):
            arm, found, other = rest.partition(kind)
            method = method_of(other if kind == ".no_better_than." else arm) if found else None
            if method:
                return METHOD_QUOTES[method], "literature"
    return "", ""
