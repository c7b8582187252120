"""The Draw page's answer to a drawing, said honestly, and a look inside the network that gave it.

Honest means: a mark that cannot be a digit (a dot, hair-thin strokes) gets no digit at all; a drawing unlike any
digit the model learned from (a letter, a scribble) gets its best guess called a guess; probabilities are the
calibrated ones (predict.py divides by the model's fitted temperature) and the page says whether they are.
"""

from __future__ import annotations

import streamlit as st

from app import charts
from app.i18n import _, number, percent
from app.run.texts import class_name, dataset_title, upscale
from mnist_core.config import TrainConfig
from mnist_core.network_view import feature_maps, first_layer_pictures
from mnist_core.predict import Prediction
from mnist_core.preprocess import TOO_SMALL, TOO_THIN, Drawing
from mnist_core.weights import LoadedModel

LOW_CONFIDENCE = 0.5
UNITS_SHOWN = 16  # MLP hidden units / CNN kernels drawn: enough to see patterns, few enough for a phone


def short_model_label(name: str, test_accuracy: float | None) -> str:
    """A model in the pickers: its name and test accuracy, short enough not to be cut off on a phone."""
    if test_accuracy is None:
        return name
    return _("{name} · {accuracy}", name=name, accuracy=percent(test_accuracy))


def model_details(config: TrainConfig, test_accuracy: float | None) -> str:
    """The details the short label leaves out, for a caption under the picker."""
    if config.model == "cnn":
        network = _("CNN with {first} and {second} convolution channels", first=config.conv_channels[0],
                    second=config.conv_channels[1])
    elif config.hidden:
        network = _("MLP 784-{hidden}-10", hidden="-".join(str(units) for units in config.hidden))
    else:
        network = _("softmax regression 784-10")
    accuracy = percent(test_accuracy) if test_accuracy is not None else _("unknown")
    return _("{network}, trained on {dataset} with {optimizer} for {epochs} epochs · test accuracy {accuracy}",
             network=network, dataset=dataset_title(config.dataset), optimizer=config.optimizer,
             epochs=config.epochs, accuracy=accuracy)


def unreadable_message(drawing: Drawing) -> str | None:
    """Why a mark gets no digit at all, or None when it is legible."""
    if drawing.unreadable == TOO_SMALL:
        return _("Too small to read: this mark is about as wide as it is long, like a dot, so it cannot be a "
                 "digit. Draw the digit big, filling most of the box.")
    if drawing.unreadable == TOO_THIN:
        return _("Too thin to read: scaled down to 28×28 pixels these strokes all but vanish. Use a thicker pen "
                 "(Stroke width) or draw the digit smaller.")
    return None


def compact_words(drawing: Drawing, prediction: Prediction) -> tuple[str | None, str | None]:
    """The answer in two words for the compact line beside Clear and Undo: (digit or "?", "98%"); (None, None)
    when the mark cannot be read."""
    if unreadable_message(drawing):
        return None, None
    label = "?" if prediction.unlike_training else class_name(prediction.label)
    return label, percent(prediction.confidence, 0)


def show_answer(loaded: LoadedModel, drawing: Drawing, prediction: Prediction) -> None:
    """The prediction (or why there is none), the 28x28 image the model read, and the probabilities."""
    guess, seen = st.columns([2, 1])
    seen.image(upscale(drawing.image, 4), caption=_("What the model sees (28×28)"), output_format="PNG")
    unreadable = unreadable_message(drawing)
    with guess:
        if unreadable:
            st.warning(unreadable)
            return
        confidence = percent(prediction.confidence, 0)
        label = class_name(prediction.label)
        if prediction.unlike_training:
            st.metric(_("Prediction"), "?", _("best guess {label}", label=label), delta_color="off",
                      delta_arrow="off")
        else:
            st.metric(_("Prediction"), label, _("{confidence} confident", confidence=confidence),
                      delta_color="off", delta_arrow="off")
    if prediction.unlike_training:
        st.warning(_("This does not look like the digits the model learned from: it is farther from all of them "
                     "than 97.5% of real handwritten digits are. A letter or a scribble still gets one of the ten "
                     "answers, so {label} ({confidence}) is only a guess.", label=class_name(prediction.label),
                     confidence=percent(prediction.confidence, 0)))
    elif prediction.confidence < LOW_CONFIDENCE:
        st.warning(_("Low confidence: only {confidence} for its best guess. Try writing the digit bigger, "
                     "centred, with a thicker stroke.", confidence=percent(prediction.confidence, 0)))
    if loaded.config.dataset == "fashion":
        st.caption(_("This model learned Fashion-MNIST: it sees every drawing as a piece of clothing."))
    st.plotly_chart(charts.probability_figure(prediction.probabilities, loaded.class_names),
                    key="draw_probabilities")
    st.caption(calibration_note(prediction))


def calibration_note(prediction: Prediction) -> str:
    if prediction.temperature is None:
        return _("These probabilities are not calibrated: the model held out no validation images to fit a "
                 "temperature on, so they may sound surer than the model is.")
    return _("Calibrated probabilities: the network's outputs are divided by a temperature of {temperature}, "
             "fitted on 5,000 held-out digits, so that \"90%\" means right about 9 times in 10.",
             temperature=number(prediction.temperature, 2))


def show_network(loaded: LoadedModel, drawing: Drawing | None) -> None:
    """What happens between the pixels and the probabilities: first-layer weights and, for a CNN, feature maps."""
    pictures = first_layer_pictures(loaded, UNITS_SHOWN, drawing if drawing is not None and not drawing.empty
                                    else None)
    if loaded.config.model == "cnn":
        st.markdown(_("**First layer: {count} of the {total} 5×5 filters.** Each slides over the image and lights "
                      "up where the pixels match its pattern (white: positive weights, black: negative).",
                      count=len(pictures), total=loaded.config.conv_channels[0]))
        st.image([upscale(p.image, 8) for p in pictures], caption=[f"#{p.index + 1}" for p in pictures], width=48,
                 output_format="PNG")
        if drawing is None or drawing.empty:
            st.caption(_("Draw a digit to see the feature maps it produces."))
            return
        for block in feature_maps(loaded, drawing):
            st.markdown(_("**Convolution block {block}: {count} feature maps of {size}×{size}.** Bright where the "
                          "block's filter found its pattern in your drawing.", block=block.block,
                          count=len(block.maps), size=block.size))
            factor = max(1, 56 // block.size)
            st.image([upscale(m, factor) for m in block.maps], caption=[f"#{i + 1}" for i in range(len(block.maps))],
                     width=56, output_format="PNG")
        return
    total = loaded.config.hidden[0] if loaded.config.hidden else len(loaded.class_names)
    if loaded.config.hidden:
        st.markdown(_("**First hidden layer: {count} of its {total} units.** Each unit has one weight per pixel, "
                      "drawn here as a 28×28 picture of what it looks for: white pixels raise its input where "
                      "there is ink, black ones lower it.", count=len(pictures), total=total))
    else:
        st.markdown(_("**Softmax regression: one 28×28 weight template per class.** White pixels are evidence "
                      "for the class where there is ink, black ones against it."))
    captions = [f"#{p.index + 1}" if p.activation is None else f"#{p.index + 1}: {number(p.activation, 1)}"
                for p in pictures]
    st.image([upscale(p.image, 3) for p in pictures], caption=captions, width=84, output_format="PNG")
    if drawing is not None and not drawing.empty and loaded.config.hidden:
        st.caption(_("The number under each unit is its output for your drawing: how strongly it fires."))
