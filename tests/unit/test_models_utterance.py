import numpy as np
import pytest
import torch

from shared.errors import ConfigMismatch, SpecError
from shared.features.utterance import group_moments, with_group_stats
from shared.models.base import forward_batch
from shared.models.registry import build_model
from shared.models.utterance import UtteranceNet


def rows(raw, groups):
    return with_group_stats(raw, group_moments(raw, groups))


def test_per_speaker_view_matches_hand_computed_shrinkage():
    model = UtteranceNet(2, feature_dim=1, speaker_dim=0, view="per_speaker", shrink=2.0, hidden=0, dropout=0.0)
    model.pool_n.fill_(100.0)
    model.pool_mean.fill_(0.0)
    model.pool_var.fill_(4.0)
    x = torch.tensor(rows(np.array([[1.0], [3.0]]), ["s", "s"]))
    # own mean 2, var 1 (n=2) shrunk toward pool mean 0, var 4 with k=2: w=0.5 -> mean 1;
    # var = 0.5 * (1 + 1) + 0.5 * (4 + 1) = 3.5
    z = model.features(x).squeeze(1).numpy()
    np.testing.assert_allclose(z, [(1 - 1) / np.sqrt(3.5), (3 - 1) / np.sqrt(3.5)], rtol=1e-6)


def test_one_segment_speaker_falls_back_to_pool_statistics_instead_of_collapsing():
    model = UtteranceNet(2, feature_dim=3, speaker_dim=0, view="per_speaker", shrink=16.0)
    model.fit_normalizer(rows(np.random.default_rng(0).normal(0, 1, (50, 3)), None))
    one = np.array([[2.0, -2.0, 0.5]])
    z = model.features(torch.tensor(rows(one, ["lone"]))).numpy()[0]
    plain = UtteranceNet(2, feature_dim=3, speaker_dim=0, view="per_speaker", shrink=0.0)
    plain.load_state_dict(model.state_dict())
    assert np.abs(plain.features(torch.tensor(rows(one, ["lone"]))).numpy()).max() == 0.0  # k=0: all zeros
    assert np.abs(z).max() > 0.4  # shrunk: the segment keeps its information


def test_learns_a_separable_task_where_every_speaker_holds_one_emotion():
    """Speakers differ by an offset; the class shifts feature 0. Under per-speaker z-scores a speaker who
    holds one class loses it; the global view keeps it."""
    rng = np.random.default_rng(0)
    raw, labels, groups = [], [], []
    for spk in range(12):
        offset, label = rng.normal(0, 1, 4), spk % 2
        for _ in range(20):
            raw.append(offset + rng.normal(0, 0.3, 4) + np.array([3.0 * label, 0, 0, 0]))
            labels.append(label)
            groups.append(f"s{spk}")
    x = torch.tensor(rows(np.asarray(raw), groups))
    y = torch.tensor(labels)
    train, test = slice(0, 160), slice(160, 240)  # 8 training speakers, 4 unseen ones
    accuracy = {}
    for view in ("per_speaker", "both"):
        torch.manual_seed(0)
        model = UtteranceNet(2, feature_dim=4, speaker_dim=0, view=view, shrink=0.0, hidden=16, dropout=0.0)
        model.fit_normalizer(x[train].numpy())
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(150):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[train]), y[train]).backward()
            opt.step()
        model.eval()
        accuracy[view] = float((model(x[test]).argmax(1) == y[test]).float().mean())
    assert accuracy["both"] > 0.95
    assert accuracy["per_speaker"] < 0.7


def test_registry_builds_the_family_and_refuses_an_unfitted_model():
    model = build_model("utterance_mlp", 4)
    inputs = model.example_inputs(3)
    assert forward_batch(model, inputs["x"], speaker=inputs["speaker"]).shape == (3, 4)
    with pytest.raises(ConfigMismatch):
        model.check_fitted()
    model.fit_normalizer(inputs["x"].numpy())
    model.check_fitted()
    assert not build_model("utterance_mlp_nospeaker", 4).uses_speaker
    with pytest.raises(SpecError):
        UtteranceNet(4, view="sideways")


def test_temperature_divides_the_logits_at_inference_only():
    torch.manual_seed(0)
    plain, hot = UtteranceNet(4, feature_dim=5, speaker_dim=0), UtteranceNet(4, feature_dim=5, speaker_dim=0, temperature=2.0)
    hot.load_state_dict(plain.state_dict())
    x = plain.example_inputs(batch=3)["x"]
    plain.eval(), hot.eval()
    torch.testing.assert_close(hot(x), plain(x) / 2.0)
    plain.train(), hot.train()
    torch.manual_seed(1)
    a = plain(x)
    torch.manual_seed(1)
    torch.testing.assert_close(hot(x), a)  # training sees the raw logits
    with pytest.raises(SpecError, match="temperature"):
        UtteranceNet(4, feature_dim=5, temperature=0.0)


def test_ensemble_heads_learn_apart_and_average_their_posteriors():
    """The global head's loss enters as the auxiliary term (so it never sees the speaker view), and at
    inference the two heads' posteriors are averaged, then tempered."""
    torch.manual_seed(0)
    model = UtteranceNet(3, feature_dim=4, speaker_dim=0, view="ensemble", shrink=4.0, hidden=0, dropout=0.0,
                         temperature=1.5)
    model.fit_normalizer(np.random.default_rng(0).normal(size=(20, 13)).astype(np.float32))
    x = model.example_inputs(batch=5)["x"]
    labels = torch.tensor([0, 1, 2, 0, 1])
    model.train()
    first = forward_batch(model, x, labels=labels)
    aux = model.auxiliary_loss(x)
    assert aux is not None and model.auxiliary_loss(x) is None  # consumed once per step
    other = model.classifier_global(model.embed(x, global_only=True))
    torch.testing.assert_close(aux, torch.nn.functional.cross_entropy(other, labels, label_smoothing=0.1))
    torch.testing.assert_close(first, model.classifier(model.embed(x)))
    aux.backward()
    assert model.classifier.weight.grad is None and model.classifier_global.weight.grad is not None
    model.eval()
    with torch.no_grad():
        mean = (torch.softmax(model.classifier(model.embed(x)), 1) + torch.softmax(other.detach(), 1)) / 2
        torch.testing.assert_close(torch.softmax(model(x), 1), torch.softmax(torch.log(mean) / 1.5, 1))
