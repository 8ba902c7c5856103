from __future__ import annotations

import dataclasses

import pytest
import torch

from trainer.negatives import DescriptorQueue, identity_contrast, person_code
from trainer.train import Trainer, latest_checkpoint


def test_person_codes_are_stable_and_tell_sources_apart():
    assert person_code("lfw", "Ann") == person_code("lfw", "Ann")
    assert person_code("lfw", "Ann") != person_code("celeba", "Ann")
    assert 0 <= person_code("fs2k", "0001") < 2**63


def test_queue_keeps_the_newest_photos():
    q = DescriptorQueue(3)
    q.push(torch.ones(2, 128), torch.tensor([1, 2]))
    assert len(q) == 2
    q.push(torch.full((2, 128), 2.0), torch.tensor([3, 4]))
    desc, person = q.contents()
    assert len(q) == 3 and sorted(person.tolist()) == [2, 3, 4]
    assert float(desc[person == 2][0, 0]) == 1.0
    again = DescriptorQueue(3)
    again.load_state_dict(q.state_dict())
    assert torch.equal(again.contents()[1], person) and again.head == q.head
    with pytest.raises(ValueError):
        DescriptorQueue(5).load_state_dict(q.state_dict())


def _far_apart(n: int) -> torch.Tensor:
    return torch.eye(128)[:n] * 0.6


def test_contrast_is_low_when_each_face_is_nearest_its_own_photo():
    real = _far_apart(4)
    q = DescriptorQueue(16)
    near = identity_contrast(real + 0.01, real, torch.arange(4), q, 0.05)
    swapped = identity_contrast(real.roll(1, 0), real, torch.arange(4), q, 0.05)
    assert float(near) < 0.05 < float(swapped)


def test_a_persons_other_photos_are_not_negatives():
    real = _far_apart(2)
    q = DescriptorQueue(4)
    other_photo = real[:1] + 0.05  # person 0's second photo, nearer the face than the first
    q.push(other_photo, torch.tensor([0]))
    fake = real + torch.tensor([0.04] + [0.0] * 127)
    kept = identity_contrast(fake, real, torch.tensor([0, 1]), q, 0.05)
    q2 = DescriptorQueue(4)
    q2.push(other_photo, torch.tensor([7]))  # the same photo as a stranger's
    counted = identity_contrast(fake, real, torch.tensor([0, 1]), q2, 0.05)
    assert float(kept) < float(counted)


def test_gradients_reach_only_the_generated_descriptors():
    real = _far_apart(3).requires_grad_(True)
    fake = (real.detach() + 0.1 * torch.randn(3, 128)).requires_grad_(True)
    q = DescriptorQueue(8)
    q.push(torch.randn(5, 128) * 0.3, torch.arange(10, 15))
    identity_contrast(fake, real, torch.arange(3), q, 0.05).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert real.grad is None


def test_training_with_the_term_fills_the_queue_and_resumes_it(tiny_config, tiny_sources):
    loss = dataclasses.replace(tiny_config.loss, identity=1.0, contrast=1.0, contrast_queue=64)
    cfg = tiny_config.replace(steps=2, loss=loss)
    t = Trainer(cfg, sources=tiny_sources, progress=False)
    t.fit()
    assert t.history.values["g_con"][0] > 0
    assert len(t.negatives) == 2 * cfg.batch_size
    state = torch.load(latest_checkpoint(t.run_dir), weights_only=True)
    again = Trainer(cfg, sources=tiny_sources, progress=False)
    again.load_state(state)
    assert torch.equal(again.negatives.contents()[0], t.negatives.contents()[0])


def test_contrast_settings_are_checked():
    from trainer.config import LossConfig

    with pytest.raises(ValueError):
        LossConfig(contrast=1.0, contrast_temperature=0.0)
    assert LossConfig(contrast=0.5).contrast_queue == 4096
